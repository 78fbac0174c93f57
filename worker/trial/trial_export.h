/* Exporting a saved trial (a folder `autopeft train --save` wrote: trial.json and
 * peft.safetensors) for other software (docs/export.md):
 *
 *   safetensors  DIR/model.safetensors, the weights under autopeft's names as saved, and
 *                DIR/autopeft_config.json (configuration, per-module sizes and layers, LoRA
 *                alpha, model shape, task, labels): autopeft's own function, documented;
 *   adapters     the AdapterHub `adapters` library: DIR/adapter_config.json (a ConfigUnion of
 *                seq_bn, par_bn, double_seq_bn, prefix_tuning and lora, each with its
 *                leave_out), DIR/adapter.safetensors under the library's parameter names, and
 *                the head as a flex classification head (DIR/head_config.json,
 *                DIR/model_head.safetensors), for BertAdapterModel.load_adapter(DIR,
 *                use_safetensors=True);
 *   peft         Hugging Face peft: DIR/adapter_config.json (LORA, SEQ_CLS) and
 *                DIR/adapter_model.safetensors, for PeftModel.from_pretrained.
 *
 * A configuration a library cannot compute exactly is refused (ERR_UNSUPPORTED) with a message
 * naming the module, the layer and what the library lacks; nothing is written then. */
#ifndef AUTOPEFT_TRIAL_EXPORT_H
#define AUTOPEFT_TRIAL_EXPORT_H

typedef enum {
    TRIAL_EXPORT_SAFETENSORS = 0,
    TRIAL_EXPORT_ADAPTERS,
    TRIAL_EXPORT_PEFT,
} trial_export_format_t;

/* "safetensors", "adapters", "peft"; ERR_INVAL listing them for another name. */
int trial_export_format_parse(const char *name, trial_export_format_t *out);

/* Writes the saved trial in folder saved as format f into folder out (created; files of the
 * same names replaced). 0, or an error code with err_msg() naming the file, the tensor or the
 * module: ERR_IO, ERR_PARSE and ERR_INVAL for a saved folder that is not one, ERR_UNSUPPORTED
 * for a configuration the format cannot represent. */
int trial_export(const char *saved, trial_export_format_t f, const char *out);

#endif
