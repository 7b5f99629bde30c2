// typed_channel: typed Queue<T> / JoinableQueue<T> channels between processes, with the
// semantics of Python's multiprocessing queues. Include this header for the whole public API.
#ifndef CHANNEL_CHANNEL_H_
#define CHANNEL_CHANNEL_H_

#include "channel/builder.h"          // IWYU pragma: export
#include "channel/joinable_queue.h"   // IWYU pragma: export
#include "channel/message.h"          // IWYU pragma: export
#include "channel/options.h"          // IWYU pragma: export
#include "channel/process.h"          // IWYU pragma: export
#include "channel/queue.h"            // IWYU pragma: export
#include "channel/stats.h"            // IWYU pragma: export
#include "channel/status.h"           // IWYU pragma: export

#endif  // CHANNEL_CHANNEL_H_
