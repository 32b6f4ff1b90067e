/* yoke/chat.h: chat templates: a list of {role, content} messages -> the prompt text a model was
 * trained on.
 *
 * There is no Jinja engine. The family is recognised from substrings of the model's Jinja source
 * (tokenizer.chat_template), in the reference engine's (llama.cpp) order and with its rules,
 * and each family is rendered by code that produces what the reference engine's built-in
 * templates produce:
 *   chatml          <|im_start|>role\ncontent<|im_end|>\n ...          (Qwen2/2.5, many others)
 *   llama3          <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> ...
 *   llama2          [INST] ... [/INST] (system text prefixed; also the name "mistral":
 *                   Mistral 7B v0.1/v0.2); llama2-sys, llama2-sys-bos, llama2-sys-strip
 *                   with <<SYS>> blocks
 *   mistral-v1, mistral-v3, mistral-v3-tekken, mistral-v7, mistral-v7-tekken
 *   phi3, phi4
 * The text contains the special tokens as text: tokenize it with parse_special = true; BOS is
 * not part of it (the tokenizer adds it when the model asks). */
#ifndef YOKE_CHAT_H
#define YOKE_CHAT_H

#include "yoke/base.h"
#include "yoke/gguf.h"

typedef enum {
    YK_CHAT_CHATML = 0,
    YK_CHAT_LLAMA2,
    YK_CHAT_LLAMA2_SYS,
    YK_CHAT_LLAMA2_SYS_BOS,
    YK_CHAT_LLAMA2_SYS_STRIP,
    YK_CHAT_MISTRAL_V1,
    YK_CHAT_MISTRAL_V3,
    YK_CHAT_MISTRAL_V3_TEKKEN,
    YK_CHAT_MISTRAL_V7,
    YK_CHAT_MISTRAL_V7_TEKKEN,
    YK_CHAT_LLAMA3,
    YK_CHAT_PHI3,
    YK_CHAT_PHI4,
    YK_CHAT_COUNT
} yk_chat_template;

typedef struct {
    const char *role;    /* "system", "user", "assistant" (others are written as they are) */
    const char *content; /* UTF-8 */
} yk_chat_msg;

/* The template's name ("llama3"), or "?" for a value out of range. */
const char *yk_chat_name(yk_chat_template t);
/* The names yk_chat_from_name accepts, comma separated (for messages and --help). */
const char *yk_chat_names(void);

/* Template by name (the list above; "mistral" is llama2's format, as in the reference engine).
 * YK_E_INVALID naming the value and the valid names otherwise. */
yk_status yk_chat_from_name(const char *name, yk_chat_template *t, yk_err *err);

/* Recognises the family of a Jinja template source (len bytes). YK_E_UNSUPPORTED with the
 * template's first characters when no family matches, or when it is a family yoke does not
 * render (the message names it). */
yk_status yk_chat_detect(const char *src, size_t len, yk_chat_template *t, yk_err *err);

/* The template for a model: override (a name, when not NULL), else the family of the file's
 * tokenizer.chat_template. Errors name the file and suggest --chat-template. */
yk_status yk_chat_select(const yk_gguf *g, const char *override, yk_chat_template *t, yk_err *err);

/* Renders n messages; add_generation_prompt appends the opening of the assistant's turn (for
 * families that have one). *text is malloc'd and NUL-terminated, *len bytes without the NUL. */
yk_status yk_chat_render(yk_chat_template t, const yk_chat_msg *msgs, size_t n, bool add_generation_prompt,
                         char **text, size_t *len, yk_err *err);

#endif
