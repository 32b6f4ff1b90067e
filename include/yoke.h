/* yoke.h: the public API of libyoke, an LLM inference engine that runs one model across several
 * devices (tensor and pipeline parallel) and predicts what that buys before it runs.
 * Every public name carries the prefix yk_. Each module has its own header under yoke/. */
#ifndef YOKE_H
#define YOKE_H

#include "yoke/base.h"
#include "yoke/gguf.h"
#include "yoke/outfile.h"
#include "yoke/quant.h"
#include "yoke/pool.h"
#include "yoke/arch.h"
#include "yoke/tokenizer.h"
#include "yoke/sampler.h"
#include "yoke/chat.h"
#include "yoke/mkmodel.h"
#include "yoke/hw.h"
#include "yoke/perf.h"

#endif
