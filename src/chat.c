/* chat.c: chat template recognition and rendering (see yoke/chat.h for the contract).
 *
 * Recognition follows the reference engine's substring rules in the same order, so that a
 * template matching several signatures lands where the reference puts it; families in that
 * order that yoke does not render are reported by name instead of being rendered as something
 * else. Rendering appends to one growable buffer; a failed allocation is reported at the end. */
#include "yoke/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[YK_CHAT_COUNT] = {
    [YK_CHAT_CHATML] = "chatml",
    [YK_CHAT_LLAMA2] = "llama2",
    [YK_CHAT_LLAMA2_SYS] = "llama2-sys",
    [YK_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [YK_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [YK_CHAT_MISTRAL_V1] = "mistral-v1",
    [YK_CHAT_MISTRAL_V3] = "mistral-v3",
    [YK_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [YK_CHAT_MISTRAL_V7] = "mistral-v7",
    [YK_CHAT_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken",
    [YK_CHAT_LLAMA3] = "llama3",
    [YK_CHAT_PHI3] = "phi3",
    [YK_CHAT_PHI4] = "phi4",
};

const char *yk_chat_name(yk_chat_template t)
{
    return (unsigned)t < YK_CHAT_COUNT ? names[t] : "?";
}

const char *yk_chat_names(void)
{
    return "llama2, llama3, chatml, mistral, llama2-sys, llama2-sys-bos, llama2-sys-strip, mistral-v1, mistral-v3, "
           "mistral-v3-tekken, mistral-v7, mistral-v7-tekken, phi3, phi4";
}

yk_status yk_chat_from_name(const char *name, yk_chat_template *t, yk_err *err)
{
    if (name && !strcmp(name, "mistral")) {
        *t = YK_CHAT_LLAMA2; /* the reference engine reads "mistral" as the plain [INST] format */
        return YK_OK;
    }
    for (int i = 0; name && i < YK_CHAT_COUNT; i++)
        if (!strcmp(name, names[i])) {
            *t = (yk_chat_template)i;
            return YK_OK;
        }
    return yk_err_set(err, YK_E_INVALID, "chat template '%s' is not one of: %s", name ? name : "(null)", yk_chat_names());
}

/* The first characters of a template for messages: newlines and quotes escaped, cut at a
 * character boundary. */
static const char *preview(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < 60 && k + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') k += (size_t)snprintf(buf + k, cap - k, "\\n");
        else if (c == '\'') k += (size_t)snprintf(buf + k, cap - k, "\\'");
        else if (c < 0x20) k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", c);
        else buf[k++] = (char)c;
    }
    while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80) k--; /* continuation bytes of a cut character */
    if (k > 0 && (unsigned char)buf[k - 1] >= 0xC0) k--;
    buf[k] = 0;
    if (n > 60 && k + 4 < cap) strcat(buf, "...");
    return buf;
}

yk_status yk_chat_detect(const char *src, size_t len, yk_chat_template *t, yk_err *err)
{
#define HAS(s) (memmem(src, len, s, sizeof s - 1) != NULL)
    const char *other = NULL; /* a family yoke recognises but does not render */
    if (HAS("<|im_start|>")) {
        if (HAS("<|im_sep|>")) *t = YK_CHAT_PHI4;
        else if (HAS("<end_of_utterance>")) other = "smolvlm";
        else *t = YK_CHAT_CHATML;
    } else if ((len >= 7 && !memcmp(src, "mistral", 7)) || HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]")) *t = YK_CHAT_MISTRAL_V7;
        else if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
            if (HAS(" [INST]")) *t = YK_CHAT_MISTRAL_V1;
            else if (HAS("\"[INST]\"")) *t = YK_CHAT_MISTRAL_V3_TEKKEN;
            else *t = YK_CHAT_MISTRAL_V3;
        } else if (HAS("content.strip()")) *t = YK_CHAT_LLAMA2_SYS_STRIP;
        else if (HAS("bos_token + '[INST]")) *t = YK_CHAT_LLAMA2_SYS_BOS;
        else if (HAS("<<SYS>>")) *t = YK_CHAT_LLAMA2_SYS;
        else *t = YK_CHAT_LLAMA2;
    } else if (HAS("<|assistant|>") && HAS("<|end|>")) *t = YK_CHAT_PHI3;
    else if (HAS("[gMASK]<sop>")) other = "chatglm4";
    else if (HAS("<|assistant|>") && HAS("<|user|>")) other = HAS("</s>") ? "falcon3" : "glmedge";
    else if (HAS("<|{{ item['role'] }}|>") && HAS("<|begin_of_image|>")) other = "glmedge";
    else if (HAS("<|user|>") && HAS("<|endoftext|>")) other = "zephyr";
    else if (HAS("bos_token + message['role']")) other = "monarch";
    else if (HAS("<start_of_turn>")) other = "gemma";
    else if (HAS("'\\n\\nAssistant: ' + eos_token")) other = "orion";
    else if (HAS("GPT4 Correct ")) other = "openchat";
    else if (HAS("USER: ") && HAS("ASSISTANT: ")) other = "vicuna";
    else if (HAS("### Instruction:") && HAS("<|EOT|>")) other = "deepseek";
    else if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>")) other = "command-r";
    else if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) *t = YK_CHAT_LLAMA3;
    else {
        char pv[512];
        if (HAS("[gMASK]sop")) other = "chatglm3";
        else if (HAS("<｜Assistant｜>") && HAS("<｜User｜>")) other = "deepseek3";
        else if (HAS("<|start_of_role|>")) other = "granite";
        else if (HAS("<|header_start|>") && HAS("<|header_end|>")) other = "llama4";
        if (!other)
            return yk_err_set(err, YK_E_UNSUPPORTED,
                              "the chat template is not one yoke recognises (it begins '%s'); choose one with --chat-template NAME (%s)",
                              preview(src, len, pv, sizeof pv), yk_chat_names());
    }
#undef HAS
    if (other) {
        char pv[512];
        return yk_err_set(err, YK_E_UNSUPPORTED,
                          "the chat template looks like '%s', which yoke does not render (it begins '%s'); choose one with --chat-template NAME (%s)",
                          other, preview(src, len, pv, sizeof pv), yk_chat_names());
    }
    return YK_OK;
}

yk_status yk_chat_select(const yk_gguf *g, const char *override, yk_chat_template *t, yk_err *err)
{
    if (override) return yk_chat_from_name(override, t, err);
    yk_str src;
    if (!yk_gguf_get_str(g, "tokenizer.chat_template", &src))
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s has no tokenizer.chat_template; choose one with --chat-template NAME (%s)",
                          g->path, yk_chat_names());
    yk_status st = yk_chat_detect(src.ptr, src.len, t, err);
    if (st && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        yk_err_set(err, st, "%s: tokenizer.chat_template: %s", g->path, msg);
    }
    return st;
}

/* ---- rendering ---------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} buf;

static void put_n(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(buf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* s without leading and trailing ASCII whitespace. */
static void put_trimmed(buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && is_space(s[i])) i++;
    while (n > i && is_space(s[n - 1])) n--;
    put_n(b, s + i, n - i);
}

yk_status yk_chat_render(yk_chat_template t, const yk_chat_msg *msgs, size_t n, bool add_generation_prompt,
                         char **text, size_t *len, yk_err *err)
{
    *text = NULL;
    *len = 0;
    if ((unsigned)t >= YK_CHAT_COUNT) return yk_err_set(err, YK_E_INVALID, "chat template id %d is out of range", (int)t);
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content)
            return yk_err_set(err, YK_E_INVALID, "chat message %zu has no %s", i, msgs[i].role ? "content" : "role");
    buf b = {0};
    put(&b, ""); /* an empty conversation still gives an empty string */

    switch (t) {
    case YK_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            put(&b, "<|im_start|>");
            put(&b, msgs[i].role);
            put(&b, "\n");
            put(&b, msgs[i].content);
            put(&b, "<|im_end|>\n");
        }
        if (add_generation_prompt) put(&b, "<|im_start|>assistant\n");
        break;

    case YK_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            put(&b, "<|start_header_id|>");
            put(&b, msgs[i].role);
            put(&b, "<|end_header_id|>\n\n");
            put_trimmed(&b, msgs[i].content);
            put(&b, "<|eot_id|>");
        }
        if (add_generation_prompt) put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;

    case YK_CHAT_PHI3:
        for (size_t i = 0; i < n; i++) {
            put(&b, "<|");
            put(&b, msgs[i].role);
            put(&b, "|>\n");
            put(&b, msgs[i].content);
            put(&b, "<|end|>\n");
        }
        if (add_generation_prompt) put(&b, "<|assistant|>\n");
        break;

    case YK_CHAT_PHI4:
        for (size_t i = 0; i < n; i++) {
            put(&b, "<|im_start|>");
            put(&b, msgs[i].role);
            put(&b, "<|im_sep|>");
            put(&b, msgs[i].content);
            put(&b, "<|im_end|>");
        }
        if (add_generation_prompt) put(&b, "<|im_start|>assistant<|im_sep|>");
        break;

    case YK_CHAT_LLAMA2:
    case YK_CHAT_LLAMA2_SYS:
    case YK_CHAT_LLAMA2_SYS_BOS:
    case YK_CHAT_LLAMA2_SYS_STRIP: {
        /* [INST] (<<SYS>>\nsystem\n<</SYS>>\n\n) user [/INST]assistant</s>[INST] ...; the plain
         * variant writes the system text followed by a newline instead of the block */
        bool sys_block = t != YK_CHAT_LLAMA2, bos_inside = t == YK_CHAT_LLAMA2_SYS_BOS;
        bool strip = t == YK_CHAT_LLAMA2_SYS_STRIP;
        bool inside = true;
        put(&b, "[INST] ");
        for (size_t i = 0; i < n; i++) {
            if (!inside) {
                inside = true;
                put(&b, bos_inside ? "<s>[INST] " : "[INST] ");
            }
            bool sys = !strcmp(msgs[i].role, "system"), user = !strcmp(msgs[i].role, "user");
            if (sys && sys_block) put(&b, "<<SYS>>\n");
            if (strip) put_trimmed(&b, msgs[i].content);
            else put(&b, msgs[i].content);
            if (sys) put(&b, sys_block ? "\n<</SYS>>\n\n" : "\n");
            else if (user) put(&b, " [/INST]");
            else {
                put(&b, "</s>");
                inside = false;
            }
        }
        break;
    }

    case YK_CHAT_MISTRAL_V1:
    case YK_CHAT_MISTRAL_V3:
    case YK_CHAT_MISTRAL_V3_TEKKEN: {
        /* v1: " [INST] user [/INST] answer</s>"; v3: "[INST] user[/INST] answer</s>" (answer
         * trimmed); v3-tekken: "[INST]user[/INST]answer</s>"; a system text opens the turn */
        const char *lead = t == YK_CHAT_MISTRAL_V1 ? " " : "";
        const char *trail = t == YK_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
        bool inside = false;
        for (size_t i = 0; i < n; i++) {
            if (!inside) {
                put(&b, lead);
                put(&b, "[INST]");
                put(&b, trail);
                inside = true;
            }
            if (!strcmp(msgs[i].role, "system")) {
                put(&b, msgs[i].content);
                put(&b, "\n\n");
            } else if (!strcmp(msgs[i].role, "user")) {
                put(&b, msgs[i].content);
                put(&b, lead);
                put(&b, "[/INST]");
            } else {
                put(&b, trail);
                if (t == YK_CHAT_MISTRAL_V3) put_trimmed(&b, msgs[i].content);
                else put(&b, msgs[i].content);
                put(&b, "</s>");
                inside = false;
            }
        }
        break;
    }

    case YK_CHAT_MISTRAL_V7:
    case YK_CHAT_MISTRAL_V7_TEKKEN: {
        const char *sp = t == YK_CHAT_MISTRAL_V7 ? " " : "";
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(msgs[i].role, "system")) {
                put(&b, "[SYSTEM_PROMPT]");
                put(&b, sp);
                put(&b, msgs[i].content);
                put(&b, "[/SYSTEM_PROMPT]");
            } else if (!strcmp(msgs[i].role, "user")) {
                put(&b, "[INST]");
                put(&b, sp);
                put(&b, msgs[i].content);
                put(&b, "[/INST]");
            } else {
                put(&b, sp);
                put(&b, msgs[i].content);
                put(&b, "</s>");
            }
        }
        break;
    }

    case YK_CHAT_COUNT:
        break;
    }

    if (b.oom) {
        free(b.p);
        return yk_err_set(err, YK_E_NOMEM, "out of memory rendering %zu chat messages", n);
    }
    *text = b.p;
    *len = b.n;
    return YK_OK;
}
