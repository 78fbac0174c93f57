/* A RESULT message (docs/protocol.md section 7) at the coordinator's edge: the whole message as
 * JSON for the store, its translation into the study's terms (study.h), and the ACK status of the
 * study's verdict. */
#ifndef AUTOPEFT_RESULT_MSG_H
#define AUTOPEFT_RESULT_MSG_H

#include "autopeft.pb-c.h"
#include "coordinator/runtime/study.h"

/* The RESULT as one JSON object (malloc'd text; NULL when out of memory). */
char *result_msg_json(const Autopeft__Result *r);

/* The RESULT (validated by wire_decode) as study_result wants it, from worker_id, with json its
 * JSON form; out points into r, worker_id and json. */
void result_msg_read(const Autopeft__Result *r, const char *worker_id, const char *json,
                     study_result_t *out);

/* The ACK status of a verdict. */
Autopeft__AckStatus result_msg_ack(study_ack_t ack);

#endif
