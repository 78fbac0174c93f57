/* The protocol's message kinds (wire.h): which message type each kind carries, and its name.
 * Both the codec (wire.c) and the rules (wire_validate.c) look kinds up here. */
#include "common/wire.h"

#include <stdio.h>
#include <string.h>

/* Kind -> message type. Kinds and their numbers come from the .proto; the pairing with message
 * types is the one fact that the schema cannot state, so it lives here. */
static const ProtobufCMessageDescriptor *const kind_desc[] = {
    [AUTOPEFT__KIND__KIND_HELLO] = &autopeft__hello__descriptor,
    [AUTOPEFT__KIND__KIND_WELCOME] = &autopeft__welcome__descriptor,
    [AUTOPEFT__KIND__KIND_TRIAL] = &autopeft__trial__descriptor,
    [AUTOPEFT__KIND__KIND_HEARTBEAT] = &autopeft__heartbeat__descriptor,
    [AUTOPEFT__KIND__KIND_PROGRESS] = &autopeft__progress__descriptor,
    [AUTOPEFT__KIND__KIND_RESULT] = &autopeft__result__descriptor,
    [AUTOPEFT__KIND__KIND_ACK] = &autopeft__ack__descriptor,
    [AUTOPEFT__KIND__KIND_CANCEL] = &autopeft__cancel__descriptor,
    [AUTOPEFT__KIND__KIND_SHUTDOWN] = &autopeft__shutdown__descriptor,
    [AUTOPEFT__KIND__KIND_ERROR] = &autopeft__error__descriptor,
    [AUTOPEFT__KIND__KIND_GOODBYE] = &autopeft__goodbye__descriptor,
};

const ProtobufCMessageDescriptor *wire_descriptor(Autopeft__Kind kind)
{
    if ((unsigned)kind >= sizeof kind_desc / sizeof kind_desc[0])
        return NULL;
    return kind_desc[kind];
}

const char *wire_kind_name(Autopeft__Kind kind)
{
    static _Thread_local char buf[24];
    const ProtobufCEnumValue *v;

    if (wire_descriptor(kind)) {
        v = protobuf_c_enum_descriptor_get_value(&autopeft__kind__descriptor, (int)kind);
        if (v && strncmp(v->name, "KIND_", 5) == 0)
            return v->name + 5;
    }
    snprintf(buf, sizeof buf, "KIND_%d", (int)kind);
    return buf;
}
