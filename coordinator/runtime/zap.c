/* ZAP handler for CURVE (zap.h). */
#include "coordinator/runtime/zap.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/err.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/mem.h"

#define ZAP_MAX_KEYS 65536
#define ZAP_MAX_PARTS 16

struct zap {
    void *sock;
    uv_poll_t poll;
    char dir[4096];
    uint8_t (*keys)[32];
    int nkeys;
    uint64_t denied;
};

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

int zap_reload(zap_t *z)
{
    DIR *d = opendir(z->dir);
    struct dirent *e;
    uint8_t (*keys)[32] = NULL;
    int n = 0, cap = 0, rc = 0;

    if (!d)
        return err_set(ERR_IO, "authorized keys folder %s: %s", z->dir, strerror(errno));
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char path[8192];
        keys_t k;
        if (len < 5 || strcmp(e->d_name + len - 4, ".pub") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", z->dir, e->d_name);
        if (keys_load(path, false, &k) != 0) {
            log_warn("authorized keys: skipping %s: %s", path, err_msg());
            continue;
        }
        if (n == ZAP_MAX_KEYS) {
            rc = err_set(ERR_RANGE, "%s: more than %d keys", z->dir, ZAP_MAX_KEYS);
            goto out;
        }
        if (mem_grow(&keys, &cap, n, 32, 64, "authorized keys") != 0) {
            rc = ERR_NOMEM;
            goto out;
        }
        zmq_z85_decode(keys[n++], k.public_z85);
    }
    if (n > 0)
        qsort(keys, (size_t)n, 32, cmp_key);
    free(z->keys);
    z->keys = keys;
    keys = NULL;
    z->nkeys = n;
    log_info("CURVE: %d worker key%s allowed (from %s)", n, n == 1 ? "" : "s", z->dir);
out:
    free(keys);
    closedir(d);
    return rc;
}

int zap_count(const zap_t *z)
{
    return z->nkeys;
}

static void send_part(void *sock, const void *data, size_t len, bool more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

/* One request: version, request id, domain, address, identity, mechanism, credentials. */
static void serve_one(zap_t *z)
{
    zmq_msg_t parts[ZAP_MAX_PARTS];
    int n = 0, more = 1;
    size_t sz = sizeof more;
    bool ok = false;
    const char *status = "400", *text = "key not allowed";

    while (more && n < ZAP_MAX_PARTS) {
        zmq_msg_init(&parts[n]);
        if (zmq_msg_recv(&parts[n], z->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&parts[n]);
            break;
        }
        n++;
        if (zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &sz) != 0)
            more = 0;
    }
    if (n == 0)
        return;
    if (n >= 7 && zmq_msg_size(&parts[0]) == 3 && memcmp(zmq_msg_data(&parts[0]), "1.0", 3) == 0) {
        if (zmq_msg_size(&parts[5]) == 5 && memcmp(zmq_msg_data(&parts[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&parts[6]) == 32)
            ok = z->nkeys > 0 && bsearch(zmq_msg_data(&parts[6]), z->keys, (size_t)z->nkeys, 32,
                                         cmp_key) != NULL;
        else
            text = "CURVE required";
        if (ok) {
            status = "200";
            text = "OK";
        } else {
            char addr[64] = "?", key[KEYS_Z85_LEN + 1] = "?";
            size_t al = zmq_msg_size(&parts[3]);
            if (al >= sizeof addr)
                al = sizeof addr - 1;
            memcpy(addr, zmq_msg_data(&parts[3]), al);
            addr[al] = '\0';
            if (zmq_msg_size(&parts[6]) == 32)
                zmq_z85_encode(key, zmq_msg_data(&parts[6]), 32);
            /* Rate-limited: a port scanner should not fill the log. */
            if (z->denied++ < 20 || (z->denied & (z->denied - 1)) == 0)
                log_warn("CURVE: refused a connection from %s with key %s (%s; %llu refused so "
                         "far)", addr, key, text, (unsigned long long)z->denied);
        }
        send_part(z->sock, "1.0", 3, true);
        send_part(z->sock, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), true);
        send_part(z->sock, status, 3, true);
        send_part(z->sock, text, strlen(text), true);
        send_part(z->sock, "", 0, true);
        send_part(z->sock, "", 0, false);
    } else {
        log_warn("ZAP: malformed request of %d parts ignored", n);
        /* A REP socket must answer before it can receive again. */
        send_part(z->sock, "1.0", 3, true);
        send_part(z->sock, n > 1 ? zmq_msg_data(&parts[1]) : "", n > 1 ? zmq_msg_size(&parts[1]) : 0,
                  true);
        send_part(z->sock, "500", 3, true);
        send_part(z->sock, "malformed", 9, true);
        send_part(z->sock, "", 0, true);
        send_part(z->sock, "", 0, false);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static void drain(zap_t *z)
{
    for (;;) {
        int events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt(z->sock, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN))
            return;
        serve_one(z);
    }
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain(h->data);
}

int zap_new(void *zmq_ctx, uv_loop_t *loop, const char *keys_dir, zap_t **out)
{
    zap_t *z = mem_alloc(1, sizeof *z, "ZAP handler");
    int fd, rc;
    size_t sz = sizeof fd;

    *out = NULL;
    if (!z)
        return ERR_NOMEM;
    snprintf(z->dir, sizeof z->dir, "%s", keys_dir);
    if ((rc = zap_reload(z)) != 0)
        goto fail;
    z->sock = zmq_socket(zmq_ctx, ZMQ_REP);
    if (!z->sock || zmq_bind(z->sock, "inproc://zeromq.zap.01") != 0 ||
        zmq_getsockopt(z->sock, ZMQ_FD, &fd, &sz) != 0) {
        rc = err_set(ERR_IO, "ZAP handler socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (uv_poll_init(loop, &z->poll, fd) != 0) {
        rc = err_set(ERR_IO, "ZAP handler: uv_poll_init failed");
        goto fail;
    }
    z->poll.data = z;
    uv_poll_start(&z->poll, UV_READABLE, poll_cb);
    *out = z;
    return 0;
fail:
    if (z->sock)
        zmq_close(z->sock);
    free(z->keys);
    free(z);
    return rc;
}

static void close_cb(uv_handle_t *h)
{
    zap_t *z = h->data;

    free(z->keys);
    free(z);
}

void zap_close(zap_t *z)
{
    if (!z)
        return;
    uv_poll_stop(&z->poll);
    zmq_close(z->sock);
    z->sock = NULL;
    uv_close((uv_handle_t *)&z->poll, close_cb);
}
