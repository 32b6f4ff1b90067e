/* test_chat.c: chat templates: the exact text of each family for one conversation (written out
 * by hand from the formats the reference engine produces), recognition from the Jinja sources
 * of the golden vocabularies and from signature snippets of the common templates, names, errors,
 * and the rendered text tokenized with its special tokens. */
#include "test.h"
#include "yoke/chat.h"
#include "yoke/tokenizer.h"

static const yk_chat_msg conv[] = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", " Hello. "},
    {"user", "Bye"},
};

static void expect(yk_chat_template t, bool gen, const char *want)
{
    char *text = NULL;
    size_t len = 0;
    yk_err err;
    yk_status st = yk_chat_render(t, conv, 4, gen, &text, &len, &err);
    bool ok = st == YK_OK && len == strlen(want) && !strcmp(text, want);
    CHECK(ok, "%s%s", yk_chat_name(t), gen ? " + generation prompt" : "");
    if (!ok) printf("    want: %s\n    got:  %s\n", want, text ? text : err.msg);
    free(text);
}

static void test_render(void)
{
    expect(YK_CHAT_CHATML, true,
           "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
    expect(YK_CHAT_CHATML, false,
           "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\n Hello. <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
    expect(YK_CHAT_LLAMA3, true,
           "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(YK_CHAT_LLAMA2, true, "[INST] You are terse.\nHi [/INST] Hello. </s>[INST] Bye [/INST]");
    expect(YK_CHAT_LLAMA2_SYS, true,
           "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s>[INST] Bye [/INST]");
    expect(YK_CHAT_LLAMA2_SYS_BOS, true,
           "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
    expect(YK_CHAT_LLAMA2_SYS_STRIP, true,
           "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST]Hello.</s>[INST] Bye [/INST]");
    expect(YK_CHAT_MISTRAL_V1, true, " [INST] You are terse.\n\nHi [/INST]  Hello. </s> [INST] Bye [/INST]");
    expect(YK_CHAT_MISTRAL_V3, true, "[INST] You are terse.\n\nHi[/INST] Hello.</s>[INST] Bye[/INST]");
    expect(YK_CHAT_MISTRAL_V3_TEKKEN, true, "[INST]You are terse.\n\nHi[/INST] Hello. </s>[INST]Bye[/INST]");
    expect(YK_CHAT_MISTRAL_V7, true,
           "[SYSTEM_PROMPT] You are terse.[/SYSTEM_PROMPT][INST] Hi[/INST]  Hello. </s>[INST] Bye[/INST]");
    expect(YK_CHAT_MISTRAL_V7_TEKKEN, true,
           "[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST]Hi[/INST] Hello. </s>[INST]Bye[/INST]");
    expect(YK_CHAT_PHI3, true,
           "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n Hello. <|end|>\n"
           "<|user|>\nBye<|end|>\n<|assistant|>\n");
    expect(YK_CHAT_PHI4, true,
           "<|im_start|>system<|im_sep|>You are terse.<|im_end|><|im_start|>user<|im_sep|>Hi<|im_end|>"
           "<|im_start|>assistant<|im_sep|> Hello. <|im_end|><|im_start|>user<|im_sep|>Bye<|im_end|>"
           "<|im_start|>assistant<|im_sep|>");

    /* an empty conversation, and bad messages */
    char *text;
    size_t len;
    yk_err err;
    CHECK(yk_chat_render(YK_CHAT_CHATML, NULL, 0, true, &text, &len, &err) == YK_OK &&
              !strcmp(text, "<|im_start|>assistant\n"),
          "empty conversation");
    free(text);
    yk_chat_msg bad = {"user", NULL};
    CHECK(yk_chat_render(YK_CHAT_CHATML, &bad, 1, true, &text, &len, &err) == YK_E_INVALID && strstr(err.msg, "content"),
          "a message without content: %s", err.msg);
    CHECK(yk_chat_render(YK_CHAT_COUNT, conv, 4, true, &text, &len, &err) == YK_E_INVALID, "template out of range");
}

static void expect_detect(const char *what, const char *src, yk_chat_template want)
{
    yk_chat_template t = YK_CHAT_COUNT;
    yk_err err = {0};
    yk_status st = yk_chat_detect(src, strlen(src), &t, &err);
    CHECK(st == YK_OK && t == want, "%s: detected %s, want %s (%s)", what, st ? "nothing" : yk_chat_name(t),
          yk_chat_name(want), err.msg);
}

static void test_detect(void)
{
    /* signatures of the common templates (fragments of their Jinja sources) */
    expect_detect("qwen2.5", "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- endif %}{{- '<|im_end|>\\n' }}", YK_CHAT_CHATML);
    expect_detect("llama3",
                  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}",
                  YK_CHAT_LLAMA3);
    expect_detect("llama2-chat",
                  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
                  "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}",
                  YK_CHAT_LLAMA2_SYS_STRIP);
    expect_detect("mistral v0.1", "{{ bos_token }}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}",
                  YK_CHAT_LLAMA2);
    expect_detect("llama2 with <<SYS>>", "{{ '[INST] <<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}", YK_CHAT_LLAMA2_SYS);
    expect_detect("llama2 bos inside", "{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}", YK_CHAT_LLAMA2_SYS_BOS);
    expect_detect("mistral v1", "{{ ' [INST] ' + system_message }}{{ ' [INST] ' }}", YK_CHAT_MISTRAL_V1);
    expect_detect("mistral v3", "{{- '[AVAILABLE_TOOLS] [' }}{{- '[INST] ' + message['content'] + '[/INST]' }}", YK_CHAT_MISTRAL_V3);
    expect_detect("mistral v3 tekken", "{{- '[AVAILABLE_TOOLS]' }}{{- \"[INST]\" + message['content'] }}", YK_CHAT_MISTRAL_V3_TEKKEN);
    expect_detect("mistral v7", "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}{{- '[INST]' }}", YK_CHAT_MISTRAL_V7);
    expect_detect("phi3", "{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}", YK_CHAT_PHI3);
    expect_detect("phi4", "{{'<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>'}}", YK_CHAT_PHI4);
    /* a template that has both [INST] and llama3 headers goes where the reference puts it */
    expect_detect("[INST] first", "<|start_header_id|><|end_header_id|>[INST]", YK_CHAT_LLAMA2);

    /* the golden vocabularies carry real templates */
    static const struct {
        const char *file;
        yk_chat_template want;
    } real[] = {
        {"golden/vocab/ggml-vocab-llama-bpe.gguf", YK_CHAT_LLAMA3},
        {"golden/vocab/ggml-vocab-qwen2.gguf", YK_CHAT_CHATML},
        {"golden/vocab/ggml-vocab-phi-3.gguf", YK_CHAT_PHI3},
    };
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        char p[4096];
        if (!tu_shared_path(p, sizeof p, real[i].file)) {
            printf("  %s: SKIP (no shared/golden)\n", real[i].file);
            continue;
        }
        yk_gguf g;
        yk_err err = {0};
        if (yk_gguf_open(&g, p, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        yk_chat_template t = YK_CHAT_COUNT;
        yk_status st = yk_chat_select(&g, NULL, &t, &err);
        CHECK(st == YK_OK && t == real[i].want, "%s: %s (%s)", real[i].file, yk_chat_name(t), err.msg);
        /* the override wins */
        st = yk_chat_select(&g, "llama2", &t, &err);
        CHECK(st == YK_OK && t == YK_CHAT_LLAMA2, "override");
        yk_gguf_close(&g);
    }
}

static void test_names_errors(void)
{
    yk_chat_template t;
    yk_err err = {0};
    static const struct {
        const char *name;
        yk_chat_template t;
    } n[] = {{"llama2", YK_CHAT_LLAMA2}, {"llama3", YK_CHAT_LLAMA3}, {"chatml", YK_CHAT_CHATML},
             {"mistral", YK_CHAT_LLAMA2}, {"mistral-v3", YK_CHAT_MISTRAL_V3}, {"phi3", YK_CHAT_PHI3}};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++)
        CHECK(yk_chat_from_name(n[i].name, &t, &err) == YK_OK && t == n[i].t, "name %s", n[i].name);
    for (int i = 0; i < YK_CHAT_COUNT; i++)
        CHECK(yk_chat_from_name(yk_chat_name((yk_chat_template)i), &t, &err) == YK_OK && t == (yk_chat_template)i,
              "round trip of name %s", yk_chat_name((yk_chat_template)i));
    CHECK(yk_chat_from_name("vicuna", &t, &err) == YK_E_INVALID && strstr(err.msg, "'vicuna'") && strstr(err.msg, "llama3"),
          "unknown name: %s", err.msg);

    /* an unknown template: the message shows its first characters */
    static const char unknown[] = "{% for m in messages %}<<turn {{ m.role }}>>\n{{ m.content }}{% endfor %}";
    yk_status st = yk_chat_detect(unknown, strlen(unknown), &t, &err);
    CHECK(st == YK_E_UNSUPPORTED && strstr(err.msg, "{% for m in messages %}<<turn") && strstr(err.msg, "--chat-template"),
          "unknown template: %s", err.msg);
    /* a known family yoke does not render is named */
    static const char gemma[] = "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}";
    st = yk_chat_detect(gemma, strlen(gemma), &t, &err);
    CHECK(st == YK_E_UNSUPPORTED && strstr(err.msg, "'gemma'"), "gemma: %s", err.msg);
    /* a file without a template */
    char p[4096];
    if (tu_shared_path(p, sizeof p, "golden/models/stories260K.gguf")) {
        yk_gguf g;
        if (yk_gguf_open(&g, p, &err) == YK_OK) {
            st = yk_chat_select(&g, NULL, &t, &err);
            CHECK(st == YK_E_UNSUPPORTED && strstr(err.msg, "tokenizer.chat_template") && strstr(err.msg, "stories260K"),
                  "no template: %s", err.msg);
            yk_gguf_close(&g);
        }
    }
}

/* The rendered text tokenizes into the model's special tokens (parse_special). */
static void test_tokenized(void)
{
    char p[4096];
    if (!tu_shared_path(p, sizeof p, "golden/vocab/ggml-vocab-llama-bpe.gguf")) return;
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open(&g, p, &err)) return;
    yk_tokenizer tok;
    yk_status st = yk_tokenizer_load(&tok, &g, &err);
    yk_gguf_close(&g);
    CHECK(st == YK_OK, "%s", err.msg);
    if (st) return;
    char *text;
    size_t len;
    yk_chat_render(YK_CHAT_LLAMA3, conv + 1, 1, true, &text, &len, &err);
    int32_t *ids;
    size_t n;
    st = yk_tokenizer_encode(&tok, text, len, true, true, &ids, &n, &err);
    int32_t bos = yk_tokenizer_find(&tok, "<|begin_of_text|>", 17), sh = yk_tokenizer_find(&tok, "<|start_header_id|>", 19),
            eh = yk_tokenizer_find(&tok, "<|end_header_id|>", 17), eot = yk_tokenizer_find(&tok, "<|eot_id|>", 10);
    /* <|begin_of_text|> <|start_header_id|> user <|end_header_id|> \n\n Hi <|eot_id|>
     * <|start_header_id|> assistant <|end_header_id|> \n\n */
    CHECK(st == YK_OK && n == 11 && ids[0] == bos && ids[1] == sh && ids[3] == eh && ids[6] == eot && ids[7] == sh &&
              ids[9] == eh,
          "llama3 chat tokens (n = %zu)", n);
    CHECK(yk_tokenizer_is_eog(&tok, eot), "<|eot_id|> ends generation");
    free(ids);
    free(text);
    yk_tokenizer_free(&tok);
}

int main(void)
{
    test_render();
    test_detect();
    test_names_errors();
    test_tokenized();
    return tu_done("test_chat");
}
