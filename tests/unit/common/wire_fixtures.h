/* Messages of every kind with every field set, for the wire tests (tests/unit/test_wire*.c).
 *
 * One wire_fixture_t holds all their storage; wire_fixture_init fills it with valid, realistic
 * values, so a test can change one field and expect exactly one rule to fire. Strings point to
 * literals: tests replace them, never write into them. Two TRIALs together set every field of
 * TrialSpec (a real-training one and a synthetic one: some fields exclude each other). */
#ifndef AUTOPEFT_WIRE_FIXTURES_H
#define AUTOPEFT_WIRE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

#define WIRE_FIXTURE_CASES 12

typedef struct {
    Autopeft__TrialRef running, trial_ref, syn_ref, hb_ref, prog_ref, res_ref, ack_ref, cancel_ref;
    Autopeft__Capability caps[3];
    Autopeft__Hello hello;
    Autopeft__Welcome welcome;
    Autopeft__ModelSpec model, syn_model;
    Autopeft__TaskSpec task, syn_task;
    Autopeft__Recipe recipe, syn_recipe;
    Autopeft__PeftConfig peft, syn_peft;
    Autopeft__SyntheticSpec synthetic;
    Autopeft__TrialSpec spec, syn_spec;
    Autopeft__Trial trial, syn_trial;
    Autopeft__Heartbeat heartbeat;
    Autopeft__Progress progress;
    Autopeft__EpochRecord curve[2];
    Autopeft__EpochRecord *curve_ptrs[2];
    Autopeft__Metric metrics[3];
    Autopeft__Metric *metric_ptrs[3];
    Autopeft__ParamCounts params;
    Autopeft__Timings timings;
    Autopeft__EpochRecord history[4];
    Autopeft__EpochRecord *history_ptrs[4];
    Autopeft__Result result;
    Autopeft__Ack ack;
    Autopeft__Cancel cancel;
    Autopeft__Shutdown shutdown;
    Autopeft__Goodbye goodbye;
    Autopeft__Error error;
} wire_fixture_t;

typedef struct {
    const char *name; /* "hello", "trial", "trial_synthetic", ...: also the seed file's name */
    Autopeft__Kind kind;
    ProtobufCMessage *msg;
} wire_case_t;

void wire_fixture_init(wire_fixture_t *f);
/* The WIRE_FIXTURE_CASES messages of f, every kind at least once. */
void wire_fixture_cases(wire_fixture_t *f, wire_case_t out[WIRE_FIXTURE_CASES]);

/* A frame carrying msg as it is, not validated (to show that the decoder refuses what the
 * encoder would not send); malloc'd. */
uint8_t *wire_fixture_raw_frame(Autopeft__Kind kind, uint32_t version,
                                const ProtobufCMessage *msg, size_t *len);

#endif
