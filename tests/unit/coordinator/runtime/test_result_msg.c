/* A RESULT at the coordinator's edge (coordinator/runtime/result_msg.c): its translation into the
 * study's terms, its JSON for the store and the ACK status of each verdict. */
#include <jansson.h>

#include "coordinator/runtime/result_msg.h"
#include "tests/harness.h"

TEST(result_reads_into_the_study_terms)
{
    Autopeft__Result r = AUTOPEFT__RESULT__INIT;
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    Autopeft__ParamCounts p = AUTOPEFT__PARAM_COUNTS__INIT;
    Autopeft__Timings tm = AUTOPEFT__TIMINGS__INIT;
    study_result_t s;

    ref.trial_id = 12;
    ref.attempt = 3;
    r.trial = &ref;
    r.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_OK;
    r.has_objective = true;
    r.objective = 0.875;
    r.objective_name = "accuracy";
    p.trainable = 10;
    p.deployed = 7;
    p.backbone = 1000;
    p.has_percent = true;
    p.percent = 0.7;
    r.params = &p;
    tm.has_total_s = true;
    tm.total_s = 4.5;
    r.timings = &tm;
    result_msg_read(&r, "w1", "{}", &s);
    ASSERT_EQ(s.status, STUDY_STATUS_OK);
    ASSERT_EQ_U(s.row.trial_id, 12);
    ASSERT_EQ(s.row.attempt, 3);
    ASSERT_NEAR(s.row.objective, 0.875, 0);
    ASSERT_STR_EQ(s.row.objective_name, "accuracy");
    ASSERT_EQ_U(s.row.deployed, 7);
    ASSERT_NEAR(s.row.percent, 0.7, 0);
    ASSERT_NEAR(s.row.total_s, 4.5, 0);
    ASSERT_STR_EQ(s.row.worker, "w1");
    ASSERT_STR_EQ(s.row.json, "{}");

    r.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED;
    r.retryable = true;
    r.error = "";
    r.params = NULL;
    r.timings = NULL;
    result_msg_read(&r, "w1", "{}", &s);
    ASSERT_EQ(s.status, STUDY_STATUS_FAILED);
    ASSERT_TRUE(s.retryable);
    ASSERT_STR_EQ(s.row.error, ""); /* as sent: the study drops an empty one for the store */
    ASSERT_EQ_U(s.row.deployed, 0);
    ASSERT_NEAR(s.row.total_s, 0, 0);
    r.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_CANCELLED;
    result_msg_read(&r, "w1", "{}", &s);
    ASSERT_EQ(s.status, STUDY_STATUS_CANCELLED);
}

TEST(result_json_keeps_the_message)
{
    Autopeft__Result r = AUTOPEFT__RESULT__INIT;
    Autopeft__TrialRef ref = AUTOPEFT__TRIAL_REF__INIT;
    json_t *o;
    char *text;

    ref.trial_id = 4;
    ref.attempt = 1;
    r.trial = &ref;
    r.status = AUTOPEFT__RESULT_STATUS__RESULT_STATUS_FAILED;
    r.error = "out of memory";
    r.has_retryable = true;
    r.retryable = false;
    text = result_msg_json(&r);
    ASSERT_NOT_NULL(text);
    o = json_loads(text, 0, NULL);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ(json_integer_value(json_object_get(o, "trial")), 4);
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "status")), "failed");
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "error")), "out of memory");
    ASSERT_TRUE(json_is_false(json_object_get(o, "retryable")));
    ASSERT_TRUE(json_object_get(o, "objective") == NULL);
    json_decref(o);
    free(text);
}

TEST(verdicts_answer_with_their_ack_status)
{
    ASSERT_EQ(result_msg_ack(STUDY_ACK_ACCEPTED), AUTOPEFT__ACK_STATUS__ACK_STATUS_ACCEPTED);
    ASSERT_EQ(result_msg_ack(STUDY_ACK_DUPLICATE), AUTOPEFT__ACK_STATUS__ACK_STATUS_DUPLICATE);
    ASSERT_EQ(result_msg_ack(STUDY_ACK_STALE), AUTOPEFT__ACK_STATUS__ACK_STATUS_STALE);
    ASSERT_EQ(result_msg_ack(STUDY_ACK_UNKNOWN), AUTOPEFT__ACK_STATUS__ACK_STATUS_UNKNOWN);
}
