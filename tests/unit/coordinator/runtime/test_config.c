/* Study configuration files (coordinator/runtime/config.c): defaults, every kind of key, and errors that name
 * the file, line, section and key. */
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/runtime/config.h"
#include "tests/harness.h"

static int parse(const char *text, config_t *c)
{
    return config_parse(text, "t.conf", NULL, c);
}

TEST(defaults_and_a_full_file)
{
    config_t c;
    const char *text =
        "; a comment\n"
        "[study]\nname = sst2-base\nmode = synthetic\nbudget = 200\nn_init = 20\nseed = 7\n"
        "objective = hv\nreference_point = 0.5, 12.5\nmax_attempts = 4\ntrial_timeout_s = 3600\n"
        "[space]\nsizes_sa = 96,48,0\nlora = true\nseparate_masks = yes\nprefix_bottleneck = 512\n"
        "sizes_ha = 64,16,0\n"
        "[model]\nshape = bert-large\nseed = 3\n"
        "[task]\nname = sst2\nnum_labels = 2\nmetric = accuracy\n"
        "[recipe]\nepochs = 5\nlearning_rate = 3e-4\nbatch_size = 16\nmax_length = 64\n"
        "warmup_ratio = 0.1\nthreads = 4\nfull_finetune = off\n"
        "[synthetic]\nduration_ms = 250\nnoise = 0.02\nfail_rate = 0.1\n"
        "[search]\nsurrogate = map\nrefit_every = 5\nmc_samples = 64\nlookahead = 2\ncost = log\n"
        "[network]\nbind = tcp://127.0.0.1:6000\nheartbeat_interval_ms = 500\n"
        "heartbeat_liveness = 4\n";

    config_defaults(&c);
    ASSERT_EQ(c.budget, 100);
    ASSERT_EQ(c.max_attempts, 3);
    ASSERT_EQ(c.heartbeat_interval_ms, 2000);
    ASSERT_OK(parse(text, &c));
    ASSERT_STR_EQ(c.name, "sst2-base");
    ASSERT_EQ(c.mode, CONFIG_MODE_SYNTHETIC);
    ASSERT_EQ(c.budget, 200);
    ASSERT_EQ(c.n_init, 20);
    ASSERT_EQ_U(c.seed, 7);
    ASSERT_TRUE(c.has_ref);
    ASSERT_NEAR(c.ref_metric, 0.5, 0);
    ASSERT_NEAR(c.ref_cost, 12.5, 0);
    ASSERT_EQ(c.max_attempts, 4);
    ASSERT_NEAR(c.trial_timeout_s, 3600, 0);
    ASSERT_EQ(c.space.nsizes[SPACE_SA], 3);
    ASSERT_GT(c.space.nsizes[SPACE_LORA], 1);
    ASSERT_EQ(c.space.nsizes[SPACE_HA], 3);
    ASSERT_EQ_U(c.space.sizes[SPACE_HA][1], 16);
    ASSERT_TRUE(c.space.separate_masks);
    ASSERT_EQ(c.shape.hidden, 1024);
    ASSERT_EQ(c.space.layers, 24);
    ASSERT_EQ(c.epochs, 5);
    ASSERT_NEAR(c.learning_rate, 3e-4, 1e-12);
    ASSERT_EQ(c.syn_duration_ms, 250);
    ASSERT_NEAR(c.syn_fail_rate, 0.1, 0);
    ASSERT_EQ(c.surrogate, CONFIG_SUR_MAP);
    ASSERT_TRUE(c.cost_log);
    ASSERT_EQ(c.lookahead, 2);
    ASSERT_STR_EQ(c.bind, "tcp://127.0.0.1:6000");
    /* The restart grace follows the heartbeat settings unless given. */
    ASSERT_NEAR(c.restart_grace_s, 0.5 * 4 + 32, 1e-9);
}

/* Each bad file fails with a message holding every fragment. */
static void bad(const char *text, const char *a, const char *b)
{
    config_t c;
    int rc = parse(text, &c);

    if (rc == 0)
        FAIL("accepted: %s", text);
    ASSERT_CONTAINS(err_msg(), a);
    if (b)
        ASSERT_CONTAINS(err_msg(), b);
}

TEST(errors_name_file_line_section_and_key)
{
    bad("[study]\nmode = synthetic\n[nonsense]\nx = 1\n", "t.conf:4:", "unknown section [nonsense]");
    bad("[study]\nmode = synthetic\nbugdet = 5\n", "t.conf:3: [study] unknown key 'bugdet'", NULL);
    bad("[study]\nmode = synthetic\nbudget = 5\nbudget = 6\n", "t.conf:4: [study] budget given "
        "twice", "line 3");
    bad("[study]\nmode = synthetic\n\n[recipe]\nepochs = 0\n", "t.conf:5: [recipe] epochs",
        "out of range 1..1000");
    bad("[study]\nmode = synthetic\nbudget = ten\n", "t.conf:3: [study] budget",
        "expected an integer");
    bad("[study]\nmode = sometimes\n", "t.conf:2: [study] mode", "expected train or synthetic");
    bad("[study]\nmode = synthetic\n[search]\nsurrogate = gp\n", "t.conf:4: [search] surrogate",
        "saas, map or random");
    bad("[study]\nmode = synthetic\n[space]\nlora = maybe\n", "t.conf:4: [space] lora",
        "true or false");
    bad("[study]\nmode = synthetic\n[space]\nsizes_sa = 48,48\n", "t.conf:4: [space] sizes_sa",
        NULL);
    bad("[study]\nmode = synthetic\nreference_point = 0.5\n", "t.conf:3: [study] "
        "reference_point", "METRIC,PARAM_PERCENT");
    bad("[study]\nmode = synthetic\n[model]\nshape = bert-huge\n", "t.conf:4: [model] shape",
        NULL);
    bad("[study]\nmode = synthetic\nbudget = 5\nn_init = 9\n", "t.conf:4: [study] n_init (9) "
        "exceeds budget (5)", NULL);
    bad("garbage line\n", "t.conf:1:", "key = value");
    bad("[study]\nbudget = 5\n", "mode = train needs path", NULL);
    bad("[study]\nmode = synthetic\n[network]\ncurve_secret_key = c.key\n",
        "[network] curve_secret_key needs authorized_keys", NULL);
    bad("[study]\nmode = synthetic\n[network]\nheartbeat_liveness = 0\n",
        "t.conf:4: [network] heartbeat_liveness", "out of range");
    {
        char line[400];
        memset(line, 'a', sizeof line);
        memcpy(line, "name = ", 7);
        line[sizeof line - 2] = '\n';
        line[sizeof line - 1] = '\0';
        char text[600];
        snprintf(text, sizeof text, "[study]\nmode = synthetic\n%s", line);
        bad(text, "t.conf:3: line longer than", NULL);
    }
}

TEST(model_shape_from_config_json_and_relative_paths)
{
    char dir[1024], path[1100], conf[1100];
    config_t c;
    FILE *f;

    snprintf(dir, sizeof dir, "%s/model", harness_tmpdir());
    ASSERT_EQ(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs("{\"model_type\": \"bert\", \"hidden_size\": 256, \"num_hidden_layers\": 4, \"num_attention_heads\": 4,"
          "\"intermediate_size\": 1024, \"vocab_size\": 30522, \"max_position_embeddings\": 512,"
          "\"type_vocab_size\": 2}", f);
    fclose(f);
    snprintf(conf, sizeof conf, "%s/s.conf", harness_tmpdir());
    f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fputs("[model]\npath = model\n[task]\ndata_dir = glue/SST-2\nname = sst2\n", f);
    fclose(f);
    ASSERT_OK(config_load(conf, &c));
    ASSERT_EQ(c.shape.hidden, 256);
    ASSERT_EQ(c.shape.layers, 4);
    ASSERT_EQ(c.space.layers, 4);
    ASSERT_STR_EQ(c.model_path, dir);
    ASSERT_CONTAINS(c.data_dir, "/glue/SST-2");
    /* A model folder without config.json is an error naming the key. */
    f = fopen(conf, "w");
    fputs("[model]\npath = nowhere\n[task]\ndata_dir = x\n", f);
    fclose(f);
    ASSERT_ERR(config_load(conf, &c), ERR_IO);
    ASSERT_CONTAINS(err_msg(), "s.conf:2: [model] path:");
    /* The coordinator reads config.json with the worker's reader (common/hfconfig.c), so a
     * model the engine cannot run is refused before a study starts. */
    f = fopen(path, "w");
    fputs("{\"model_type\": \"roberta\", \"hidden_size\": 256}", f);
    fclose(f);
    f = fopen(conf, "w");
    fputs("[model]\npath = model\n[task]\ndata_dir = x\n", f);
    fclose(f);
    ASSERT_ERR(config_load(conf, &c), ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err_msg(), "s.conf:2: [model] path:");
    ASSERT_CONTAINS(err_msg(), "\"model_type\": 'roberta' is not supported");
}

TEST(deploy_configs_parse)
{
    static const char *const files[] = {
        "deploy/examples/synthetic.conf", "deploy/examples/exec.conf",
        "deploy/configs/cola.conf", "deploy/configs/sst2.conf", "deploy/configs/mrpc.conf",
        "deploy/configs/stsb.conf", "deploy/configs/qqp.conf", "deploy/configs/mnli.conf",
        "deploy/configs/qnli.conf", "deploy/configs/rte.conf", "deploy/configs/wnli.conf"};
    char path[1024];
    config_t c;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        harness_src_path(files[i], path, sizeof path);
        if (config_load(path, &c) != 0)
            FAIL("%s: %s", files[i], err_msg());
        if (strstr(files[i], "configs/")) {
            ASSERT_EQ(c.shape.hidden, 768);
            ASSERT_EQ(c.mode, CONFIG_MODE_TRAIN);
            ASSERT_TRUE(c.metric[0] != '\0');
        }
    }
}

TEST(explicit_shapes)
{
    config_t *c = calloc(1, sizeof *c);
    shape_t s = {.labels = 3};

    ASSERT_OK(config_parse_shape("hidden=64 layers=4 heads=4 intermediate=256 vocab=89 "
                                 "positions=64 type_vocab=2", &s));
    ASSERT_EQ(s.hidden, 64);
    ASSERT_EQ(s.layers, 4);
    ASSERT_EQ(s.vocab, 89);
    ASSERT_EQ(s.labels, 3);
    ASSERT_OK(config_parse_shape("hidden=256,layers=6", &s));
    ASSERT_EQ(s.heads, 4);
    ASSERT_EQ(s.intermediate, 1024);
    ASSERT_EQ(s.vocab, 30522);
    ASSERT_ERR(config_parse_shape("hidden=64", &s), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "hidden and layers are required");
    ASSERT_ERR(config_parse_shape("hidden=64 layers=4 width=3", &s), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "unknown key 'width'");
    ASSERT_ERR(config_parse_shape("hidden=64 layers=4 layers=5", &s), ERR_PARSE);
    ASSERT_ERR(config_parse_shape("hidden=64 layers=x", &s), ERR_RANGE);
    ASSERT_ERR(config_parse_shape("hidden=64 layers=4 heads=5", &s), ERR_INVAL);
    ASSERT_ERR(config_parse_shape("hidden=99999999 layers=4", &s), ERR_RANGE);
    /* In a file, with the line named. */
    ASSERT_OK(config_parse("[study]\nmode = synthetic\n[model]\nshape = hidden=128 layers=3\n",
                           "t.conf", NULL, c));
    ASSERT_EQ(c->shape.hidden, 128);
    ASSERT_EQ(c->space.layers, 3);
    ASSERT_ERR(config_parse("[study]\nmode = synthetic\n[model]\nshape = hidden=128\n", "t.conf",
                            NULL, c), ERR_PARSE);
    ASSERT_CONTAINS(err_msg(), "t.conf:4: [model] shape");
    free(c);
}

/* [baselines]: built-in names scaled to the model, a user's labelled configuration, and what
 * is wrong with a bad one, by line. */
TEST(baselines_by_name_and_by_configuration)
{
    config_t c;
    char text[] = "[study]\nmode = synthetic\n[baselines]\nnames = pfeiffer, lora head-only\n"
                  "top = sa=64 layers=000000000011\n[model]\nshape = bert-base\n";

    ASSERT_OK(config_parse(text, "t.conf", NULL, &c));
    ASSERT_EQ(c.nbaselines, 4);
    ASSERT_STR_EQ(c.baselines[0].name, "pfeiffer");
    ASSERT_EQ(c.baselines[0].config.size[SPACE_SA], 48);   /* 768 / 16, after [model] */
    ASSERT_EQ(space_config_layer_count(&c.baselines[0].config, SPACE_SA), 12);
    ASSERT_STR_EQ(c.baselines[1].name, "lora");
    ASSERT_EQ(c.baselines[1].config.size[SPACE_LORA], 8);
    ASSERT_STR_EQ(c.baselines[2].name, "head-only");
    ASSERT_FALSE(space_config_active(&c.baselines[2].config, SPACE_SA));
    ASSERT_STR_EQ(c.baselines[3].name, "top");
    ASSERT_EQ(c.baselines[3].config.size[SPACE_SA], 64);
    ASSERT_EQ(space_config_layer_count(&c.baselines[3].config, SPACE_SA), 2);
    ASSERT_OK(config_parse("[study]\nmode = synthetic\n", "t.conf", NULL, &c));
    ASSERT_EQ(c.nbaselines, 0);

    bad("[study]\nmode = synthetic\n[baselines]\nnames = pfeiffer, adaptformer\n",
        "t.conf:4: [baselines] adaptformer", "pfeiffer");
    bad("[study]\nmode = synthetic\n[baselines]\nnames = lora\nlora = sa=1 layers=1\n",
        "t.conf:5: [baselines] 'lora' is named twice", "line 4");
    bad("[study]\nmode = synthetic\n[baselines]\nmine = sa=8 layers=11\n",
        "t.conf:4: [baselines] mine", NULL);
    bad("[study]\nmode = synthetic\n[baselines]\nmine = sa=eight\n", "t.conf:4: [baselines] mine",
        NULL);
    bad("[study]\nmode = synthetic\n[baselines]\nnames = lora\nnames = mam\n",
        "t.conf:5: [baselines] names given twice", NULL);
    bad("[study]\nmode = synthetic\n[baselines]\nb@d = sa=8 layers=111111111111\n",
        "t.conf:4: [baselines] 'b@d'", "letters, digits");
}

TEST(keep_weights_and_weights_dir)
{
    config_t c;

    ASSERT_OK(parse("[study]\nmode = synthetic\n", &c));
    ASSERT_EQ(c.keep_weights, CONFIG_KEEP_FRONT);
    ASSERT_STR_EQ(c.weights_dir, "");
    ASSERT_STR_EQ(config_keep_name(c.keep_weights), "front");
    ASSERT_OK(parse("[study]\nmode = synthetic\nkeep_weights = all\n", &c));
    ASSERT_EQ(c.keep_weights, CONFIG_KEEP_ALL);
    ASSERT_OK(parse("[study]\nmode = synthetic\nkeep_weights = NONE\n", &c));
    ASSERT_EQ(c.keep_weights, CONFIG_KEEP_NONE);
    ASSERT_STR_EQ(config_keep_name(c.keep_weights), "none");
    ASSERT_OK(parse("[study]\nmode = synthetic\nkeep_weights = front\n"
                    "weights_dir = /shared/w\n", &c));
    ASSERT_STR_EQ(c.weights_dir, "/shared/w");
    /* A relative folder is taken from the configuration file's, like every path. */
    ASSERT_OK(config_parse("[study]\nmode = synthetic\nweights_dir = kept\n", "t.conf",
                           "/etc/studies", &c));
    ASSERT_STR_EQ(c.weights_dir, "/etc/studies/kept");
    bad("[study]\nmode = synthetic\nkeep_weights = best\n", "t.conf:3: [study] keep_weights",
        "expected front, all or none, got 'best'");
    bad("[study]\nmode = synthetic\nkeep_weights = none\nweights_dir = /w\n",
        "t.conf:4: [study] weights_dir", "keep_weights = none");
    bad("[study]\nmode = synthetic\nweights_dir =\n", "t.conf:3: [study] weights_dir",
        "empty value");
    /* Not the configuration's folder, as an empty path joined to it would be. */
    ASSERT_ERR(config_parse("[study]\nmode = synthetic\nweights_dir =\n", "t.conf", "/etc",
                            &c), ERR_PARSE);
}

TEST(recipe_precision)
{
    config_t c;

    ASSERT_OK(parse("[study]\nmode = synthetic\n", &c));
    ASSERT_EQ(c.precision, PRECISION_FP32);
    ASSERT_OK(parse("[study]\nmode = synthetic\n[recipe]\nprecision = bf16\n", &c));
    ASSERT_EQ(c.precision, PRECISION_BF16);
    ASSERT_OK(parse("[study]\nmode = synthetic\n[recipe]\nprecision = FP16\n", &c));
    ASSERT_EQ(c.precision, PRECISION_FP16);
    ASSERT_OK(parse("[study]\nmode = synthetic\n[recipe]\nprecision = fp32\n", &c));
    ASSERT_EQ(c.precision, PRECISION_FP32);
    bad("[study]\nmode = synthetic\n[recipe]\nprecision = fp8\n", "t.conf:4: [recipe] precision",
        "expected fp32, bf16 or fp16, got 'fp8'");
}
