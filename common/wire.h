/* Frames of the coordinator/worker protocol: encoding, decoding and validation.
 *
 * A frame is the 12-byte header of proto/autopeft.proto (magic, version, kind, body length;
 * little-endian) followed by one protobuf-encoded message of that kind. docs/protocol.md
 * describes the exchange; this module only turns messages into frames and back, and guarantees
 * that whatever it returns satisfies the structural rules of wire_validate:
 *
 *   - wire_encode refuses to produce a frame for an invalid message (a bug in the sender is
 *     caught where it happens, not on the peer);
 *   - wire_decode refuses every frame that is too large, truncated, of another version (ERROR
 *     excepted), of an unknown kind, not protobuf, or invalid, with a message naming the field.
 *
 * Rules that need context (a mask as long as the model's layers, a RESULT for the trial that was
 * dispatched, a TRIAL while busy) are the receiver's. */
#ifndef AUTOPEFT_WIRE_H
#define AUTOPEFT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autopeft.pb-c.h"

/* One decoded frame. msg points to the message of kind (Autopeft__Hello for KIND_HELLO, ...),
 * owned by the wire_msg_t and released by wire_msg_free.
 *
 * version is the header's protocol version. It differs from PROTOCOL_VERSION only for an ERROR
 * sent by a peer of another version: such an ERROR carries fields 1-3 only (the fields frozen
 * across versions), and its code may be one this build does not know.
 *
 * When wire_decode fails, msg is NULL, and kind and version are those of the header when it
 * could be read (kind 0 when it names no known kind), so the receiver can say which message it
 * refused. */
typedef struct {
    Autopeft__Kind kind;
    uint32_t version;
    ProtobufCMessage *msg;
} wire_msg_t;

/* The message type of each kind; NULL for an unknown kind. */
const ProtobufCMessageDescriptor *wire_descriptor(Autopeft__Kind kind);
/* "HELLO", "TRIAL", ...; "KIND_<n>" for an unknown kind (in a static buffer of the calling
 * thread, valid until the next such call). */
const char *wire_kind_name(Autopeft__Kind kind);

/* Checks msg (of the type of kind) against the protocol's structural rules: required fields
 * present, enum values known, floats finite and in range, strings valid UTF-8 within their caps,
 * repeated fields within their caps, layer masks well formed. 0, or ERR_INVAL with a message
 * such as "TRIAL: spec.recipe.batch_size missing". */
int wire_validate(Autopeft__Kind kind, const ProtobufCMessage *msg);

/* Validates msg, then returns in *frame (malloc'd; the caller frees) and *len the frame that
 * carries it. ERR_INVAL for an invalid message, ERR_RANGE when the frame would exceed
 * MAX_FRAME_BYTES, ERR_NOMEM. *frame and *len are set only on success. */
int wire_encode(Autopeft__Kind kind, const ProtobufCMessage *msg, uint8_t **frame, size_t *len);

/* Decodes frame[0..len) into *out (see wire_msg_t). Never reads more than len bytes, and reads
 * nothing of a frame longer than MAX_FRAME_BYTES. Errors: ERR_RANGE (too large, or the body
 * would need more memory than a valid message can), ERR_PROTOCOL (not a frame of this
 * protocol: short, bad magic, wrong length, unknown kind, body not protobuf), ERR_VERSION
 * (another protocol version), ERR_INVAL (decoded but invalid), ERR_NOMEM. */
int wire_decode(const void *frame, size_t len, wire_msg_t *out);

/* Releases m->msg and clears *m; safe on a cleared or failed wire_msg_t. */
void wire_msg_free(wire_msg_t *m);

/* An ERROR frame: code, a human-readable text (cut to MAX_TEXT_BYTES on a character boundary,
 * bytes that are not UTF-8 replaced by '?', so that any err_msg() can be sent), and the kind of
 * the refused message (0 when unknown). Carries expected_version = PROTOCOL_VERSION. */
int wire_encode_error(Autopeft__ErrorCode code, const char *text, Autopeft__Kind refused_kind,
                      uint8_t **frame, size_t *len);

/* The ERROR code that answers a frame wire_decode refused with rc. */
Autopeft__ErrorCode wire_error_code(int rc);

/* Both refs present and complete (trial_id and attempt set) and naming the same attempt. */
bool wire_trial_ref_equal(const Autopeft__TrialRef *a, const Autopeft__TrialRef *b);

/* Internal: defined in wire_validate.c, called by wire.c (one direction only). */
int wire__check_foreign_error(Autopeft__Error *e);
/* The class of a string field (wire_validate.c's str_class_t), -1 for one the table lacks. */
int wire__string_class(const ProtobufCMessageDescriptor *desc, const char *field);

#endif
