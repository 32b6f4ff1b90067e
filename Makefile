# yoke: one C11 library (build/<mode>/libyoke.a), one CLI (build/<mode>/yoke), one test
# executable per tests/test_*.c. Files are found by wildcard: adding a source file needs no edit here.
#
#   make                 release build
#   make MODE=asan       AddressSanitizer + UndefinedBehaviorSanitizer build (build/asan)
#   make test            build and run every test (add MODE=asan for the sanitizer run)
#   make fuzz            libFuzzer targets (clang), build/fuzz/
#   make demo            the main job on built-in defaults
#
# Optional parts are detected, never required: Open MPI (mpicc), CUDA + NCCL (/usr/local/cuda).

MODE   ?= release
BUILD  := build/$(MODE)
CC     ?= cc
ifeq ($(CC),cc)
CC     := gcc
endif

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
               -Iinclude -Isrc -MMD -MP -pthread -fno-strict-aliasing
ifeq ($(MODE),asan)
CFLAGS_MODE := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS_MODE := -fsanitize=address,undefined
else ifeq ($(MODE),debug)
CFLAGS_MODE := -O0 -g
else
CFLAGS_MODE := -O2 -g
endif

# Open MPI: used when mpicc exists; the MPI communicator is compiled in with YK_HAVE_MPI.
MPICC := $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
ifneq ($(NO_MPI),1)
MPI_CFLAGS  := $(shell mpicc --showme:compile) -DYK_HAVE_MPI
MPI_LDFLAGS := $(shell mpicc --showme:link)
endif
endif

# CUDA: used when nvcc is on PATH or under /usr/local/cuda (CUDA=0 skips it). The runtime is linked
# statically (libcudart_static), so the binary starts on machines without the NVIDIA driver; the
# kernels are built for Ampere (sm_80, sm_86), Ada (sm_89) and Hopper (sm_90), plus PTX for newer
# GPUs. Kernel objects do not depend on MODE: build/cuda/ serves release and asan builds alike.
# The toolkit root is the first of $CUDA_HOME, /usr/local/cuda and the folder above nvcc's real path
# that holds both the runtime header and the static runtime: nvcc on PATH may be a wrapper script
# (such as /usr/local/bin/nvcc), whose folder has neither. nvcc found without such a root: CUDA is
# skipped with a warning, never a failed build.
NVCC_ON_PATH := $(shell command -v nvcc 2>/dev/null)
CUDA_CANDIDATES := $(CUDA_HOME) /usr/local/cuda $(patsubst %/bin/nvcc,%,$(realpath $(NVCC_ON_PATH)))
CUDA_ROOT := $(firstword $(foreach d,$(CUDA_CANDIDATES),$(if $(wildcard $(d)/include/cuda_runtime_api.h),$(if $(wildcard $(d)/lib64/libcudart_static.a),$(d)))))
NVCC := $(or $(wildcard $(CUDA_ROOT)/bin/nvcc),$(NVCC_ON_PATH))
ifneq ($(CUDA),0)
ifneq ($(CUDA_ROOT),)
ifneq ($(NVCC),)
CUDA_CFLAGS  := -I$(CUDA_ROOT)/include -DYK_HAVE_CUDA
CUDA_LDFLAGS := -L$(CUDA_ROOT)/lib64 -lcudart_static -ldl -lrt -lstdc++
CU_SRC       := $(wildcard src/cuda/*.cu)
CU_OBJ       := $(CU_SRC:%.cu=build/cuda/%.o)
endif
else ifneq ($(NVCC_ON_PATH),)
$(warning nvcc is $(NVCC_ON_PATH), but no CUDA toolkit root with include/cuda_runtime_api.h and lib64/libcudart_static.a was found (looked in: $(CUDA_CANDIDATES)); building without CUDA. Set CUDA_HOME to the toolkit root.)
endif
endif
NVCC_ARCH  := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
              -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
NVCC_FLAGS := -O3 -std=c++17 $(NVCC_ARCH) -Iinclude -Isrc -Xcompiler -Wall

CFLAGS  := $(CFLAGS_BASE) $(CFLAGS_MODE) $(MPI_CFLAGS) $(CUDA_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(LDFLAGS_MODE) $(MPI_LDFLAGS) $(CUDA_LDFLAGS) $(EXTRA_LDFLAGS) -lpcre2-8 -lm -pthread

# Objects depend on the flags they were built with (build/<mode>/flags): CUDA=0, NO_MPI=1,
# EXTRA_CFLAGS, or MPI or CUDA appearing on the machine rebuild the objects, not just new ones.
FLAGS_FILE := $(BUILD)/flags
FLAGS_NOW  := $(strip $(CC) $(CFLAGS) $(LDFLAGS) $(CU_OBJ))
ifneq ($(FLAGS_NOW),$(strip $(shell cat $(FLAGS_FILE) 2>/dev/null)))
$(shell mkdir -p $(BUILD) && printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS_FILE))
endif

# SIMD kernels live in files named *_avx2.c / *_avx512.c / *_amx.c and get their ISA flags here;
# the rest of the library is built for the baseline x86-64 and picks a path at run time.
AVX2_FLAGS   := -mavx2 -mfma -mf16c -mbmi2
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mavx2 -mfma -mf16c -mbmi2
AMX_FLAGS    := -mamx-tile -mamx-bf16 -mamx-int8

LIB_SRC  := $(wildcard src/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The data files (hardware table, engine profiles) are compiled into libyoke: gen/data.c.
DATA_SRC := $(sort $(wildcard data/*.tsv data/*/*.tsv))
LIB_OBJ  += $(BUILD)/gen/data.o $(CU_OBJ)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
TEST_COMMON := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON:%.c=$(BUILD)/%.o)

.PHONY: all test bench fuzz demo clean
.SECONDARY:
all: $(BUILD)/yoke $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/%_avx2.o: %_avx2.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	@$(CC) $(CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	@$(CC) $(CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/%_amx.o: %_amx.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	@$(CC) $(CFLAGS) $(AVX512_FLAGS) $(AMX_FLAGS) -c $< -o $@

$(BUILD)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@echo '  CC    $<'
	@$(CC) $(CFLAGS) -c $< -o $@

build/cuda/%.o: %.cu $(wildcard src/cuda/*.h)
	@mkdir -p $(dir $@)
	@echo '  NVCC  $<'
	@$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(BUILD)/gen/data.c: $(DATA_SRC) scripts/embed_data.sh
	@mkdir -p $(dir $@)
	@echo '  GEN   $@'
	@sh scripts/embed_data.sh $(DATA_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/data.o: $(BUILD)/gen/data.c $(FLAGS_FILE)
	@echo '  CC    $<'
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libyoke.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/yoke: $(CLI_OBJ) $(BUILD)/libyoke.a
	@echo '  LD    $@'
	@$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON_OBJ) $(BUILD)/libyoke.a
	@echo '  LD    $@'
	@$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libyoke.a
	@echo '  LD    $@'
	@$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS)

# Runs every test executable; each prints its own checks, tests/run.sh prints the closing tally.
test: $(BUILD)/yoke $(TEST_BIN)
	@YOKE=$(BUILD)/yoke sh tests/run.sh $(TEST_BIN)

bench: $(BENCH_BIN) $(BUILD)/yoke

# libFuzzer targets: fuzz/fuzz_<name>.c, built with clang against the parsers they exercise (the
# parsers need no SIMD code, so the rest of the library stays out of the fuzz build).
FUZZ_SRC     := $(wildcard fuzz/fuzz_*.c)
FUZZ_LIB_SRC := src/base.c src/gguf.c src/gguf_write.c src/outfile.c src/gguf_info.c $(wildcard src/tokenizer*.c)
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -pthread -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined
fuzz: $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
build/fuzz/%: fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	@echo '  FUZZ  $@'
	@clang $(FUZZ_FLAGS) $< $(FUZZ_LIB_SRC) -o $@ -lpcre2-8 -lm

demo: $(BUILD)/yoke
	sh scripts/demo.sh $(BUILD)/yoke

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d)
