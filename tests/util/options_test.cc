// Options declared once: the checks every declaration gets (util/options.h), and the runtime's
// option structs validated before anything is loaded.
#include "util/options.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/options.h"

namespace omnisage {
namespace {

std::string Message(const Status& s) { return s.ok() ? "OK" : s.message(); }

TEST(CheckOptionTest, NumbersReadAsTheFlagAndTheValue) {
  const OptionSpec temperature{.name = "temperature", .min = 0};
  EXPECT_TRUE(CheckOption(0.0, false, temperature).ok());
  EXPECT_EQ(Message(CheckOption(-1.0, false, temperature)), "--temperature must be >= 0 (got -1)");
  const OptionSpec top_p{.name = "top-p", .min = 0, .max = 1};
  EXPECT_EQ(Message(CheckOption(2.0, false, top_p)), "--top-p must be between 0 and 1 (got 2)");
  const OptionSpec penalty{.name = "repetition-penalty", .min = 0, .above_min = true};
  EXPECT_EQ(Message(CheckOption(0.0, false, penalty)), "--repetition-penalty must be > 0 (got 0)");
  EXPECT_TRUE(CheckOption(0.5, false, penalty).ok());
  const OptionSpec threads{.name = "io-threads", .min = 1, .max = 256};
  EXPECT_EQ(Message(CheckOption(100000, true, threads)),
            "--io-threads must be between 1 and 256 (got 100000)");
  const OptionSpec context{.name = "context", .min = 1};
  EXPECT_EQ(Message(CheckOption(1e10, true, context)).find("e+"), std::string::npos)
      << "integers print whole";
}

TEST(CheckOptionTest, NonFiniteNumbersAreNeverValid) {
  const OptionSpec any{.name = "x"};
  for (double v : {std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    const Status s = CheckOption(v, false, any);
    ASSERT_FALSE(s.ok()) << v;
    EXPECT_NE(s.message().find("--x must be a finite number"), std::string::npos) << s.message();
  }
}

TEST(CheckOptionTest, StringsChoicesAndRequired) {
  const std::vector<std::string> choices = {"lru", "lfu"};
  const OptionSpec policy{.name = "policy", .choices = &choices};
  EXPECT_TRUE(CheckOption(std::string("lfu"), policy).ok());
  EXPECT_TRUE(CheckOption(std::string(), policy).ok());  // not set
  EXPECT_EQ(Message(CheckOption(std::string("bogus"), policy)),
            "--policy must be one of lru, lfu (got 'bogus')");
  const OptionSpec model{.name = "model", .required = true};
  EXPECT_EQ(Message(CheckOption(std::string(), model)), "--model is required");
}

TEST(ValidateOptionsTest, SamplerRejectsNaNInEveryFloat) {
  for (float SamplerOptions::*field :
       {&SamplerOptions::temperature, &SamplerOptions::top_p, &SamplerOptions::min_p,
        &SamplerOptions::repetition_penalty}) {
    SamplerOptions o;
    EXPECT_TRUE(ValidateOptions(o).ok());
    o.*field = std::nanf("");
    EXPECT_NE(Message(ValidateOptions(o)).find("must be a finite number"), std::string::npos);
  }
}

// Every flag name is declared once across the structs a command registers together.
struct NameCollector {
  std::vector<std::string> names;
  template <typename T>
  void operator()(T&, const OptionSpec& spec) {
    names.emplace_back(spec.name);
  }
};

TEST(ValidateOptionsTest, EngineAndGenerateOptionsListEachFlagOnce) {
  NameCollector c;
  EngineOptions e;
  GenerateOptions g;
  e.ForEach(c);
  g.ForEach(c);
  const std::vector<std::string> expected = {"model",
                                             "threads",
                                             "context",
                                             "budget",
                                             "memory",
                                             "policy",
                                             "io-threads",
                                             "no-prefetch",
                                             "no-verify-checksums",
                                             "io",
                                             "embeddings",
                                             "mode",
                                             "state",
                                             "reward",
                                             "trust-file",
                                             "trace",
                                             "max-tokens",
                                             "temperature",
                                             "top-k",
                                             "top-p",
                                             "min-p",
                                             "repetition-penalty",
                                             "seed"};
  EXPECT_EQ(c.names, expected);
}

TEST(ValidateOptionsTest, EngineOptionsAcrossFields) {
  EngineOptions o{.model = "m"};
  EXPECT_TRUE(o.Validate().ok()) << Message(o.Validate());
  o.sage.state = "wake";
  EXPECT_EQ(Message(o.Validate()), "--state and --reward need --mode sage");
  o.mode = "sage";
  EXPECT_TRUE(o.Validate().ok()) << Message(o.Validate());
  o.budget = "lots";
  EXPECT_NE(Message(o.Validate()).find("--budget: size 'lots'"), std::string::npos);
  o.budget = "";
  o.cache.io_threads = kMaxIoThreads + 1;
  EXPECT_NE(Message(o.Validate()).find("--io-threads must be between 1 and 256"),
            std::string::npos);
}

// The engine checks its options before it opens any file: a bad option on a model that does
// not exist names the option, not the missing model.
TEST(ValidateOptionsTest, EngineLoadChecksOptionsBeforeOpeningTheModel) {
  EngineOptions o{.model = "/nonexistent/model", .context = kMaxContext + 1};
  auto e = Engine::Load(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--context must be between 1 and 1048576"), std::string::npos)
      << e.status().message();
  o.context = 16;
  o.cache.policy = "bogus";
  e = Engine::Load(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--policy"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace omnisage
