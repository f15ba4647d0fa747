// The options of `omnisage serve` that belong to the server itself, declared once
// (util/options.h): where it listens, the key it asks for, and the limits that keep it up under
// any load. The engine's options (runtime/options.h) and the generation defaults that a request
// may override (GenerateOptions) are declared beside them, not here.
#pragma once

#include <cstdint>
#include <string>

#include "util/options.h"

namespace omnisage {

struct ServeOptions {
  std::string host = "127.0.0.1";     // loopback unless told otherwise
  int port = 8080;                    // 0: any free port (printed when listening)
  std::string api_key = "";           // "" → no key asked for
  int64_t max_body_bytes = 16 << 20;  // a larger request body gets 413
  int64_t max_prompt_tokens = 0;      // 0: the context; a longer prompt gets 400
  int max_tokens_limit = 4096;        // a request's max_tokens above this gets 400
  int max_queue = 16;                 // requests waiting beyond the running ones get 429
  int max_batch = 8;                  // sequences decoded together (each holds a KV cache)
  bool speech = false;                // load the talker: answers may be spoken

  template <typename Visitor>
  void ForEach(Visitor&& v) {
    v(host, {.name = "host",
             .help = "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every "
                     "interface)"});
    v(port, {.name = "port", .help = "TCP port (0: any free one)", .min = 0, .max = 65535});
    v(api_key, {.name = "api-key",
                .help = "Ask every /v1 request for 'Authorization: Bearer KEY' (401 otherwise)"});
    v(max_body_bytes, {.name = "max-body",
                       .help = "Largest request body in bytes (413 beyond)",
                       .min = 1024,
                       .max = static_cast<double>(int64_t{1} << 30)});
    v(max_prompt_tokens,
      {.name = "max-prompt-tokens", .help = "Longest prompt in tokens (0: the context)", .min = 0});
    v(max_tokens_limit, {.name = "max-tokens-limit",
                         .help = "Largest max_tokens a request may ask for (400 beyond)",
                         .min = 1});
    v(max_queue, {.name = "max-queue",
                  .help = "Requests that may wait for a slot (429 beyond)",
                  .min = 0,
                  .max = 4096});
    v(max_batch, {.name = "max-batch",
                  .help = "Sequences decoded together in one batch (each holds a KV cache of "
                          "--context tokens)",
                  .min = 1,
                  .max = 256});
    v(speech, {.name = "speech",
               .help = "Load the talker so that requests may ask for spoken answers "
                       "(modalities [\"text\",\"audio\"])"});
  }
};

}  // namespace omnisage
