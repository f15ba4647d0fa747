#include "io/checkpoint.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/file.h"
#include "io/safetensors_writer.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace omnisage {
namespace {

// Success when `status` is an error whose message contains every one of `needles`.
::testing::AssertionResult FailsWith(const Status& status,
                                     std::initializer_list<std::string_view> needles) {
  if (status.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  for (std::string_view needle : needles) {
    if (status.message().find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << status.message() << "\" lacks \"" << needle << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

// The bytes stored for tensor `name`: each byte depends on the name and the position.
std::string BytesFor(std::string_view name, uint64_t n) {
  uint8_t seed = 0;
  for (char c : name) seed = static_cast<uint8_t>(seed * 31 + static_cast<uint8_t>(c));
  std::string out(n, '\0');
  for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 7);
  return out;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "/omnisage_ckpt_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  // Writes an F32 safetensors file holding `tensors` (name, shape), each filled with BytesFor.
  void WriteShard(const std::string& path,
                  const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
    std::vector<TensorDecl> decls;
    for (const auto& [name, shape] : tensors) decls.push_back({name, DType::kF32, shape});
    auto w = SafetensorsWriter::Create(path, decls);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (const TensorDecl& d : decls) {
      const std::string bytes = BytesFor(d.name, d.nbytes());
      ASSERT_TRUE((*w)->Append(bytes.data(), bytes.size()).ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }

  void WriteText(const std::string& path, std::string_view text) {
    ASSERT_TRUE(WriteFileAtomically(path, text).ok());
  }

  // Writes model.safetensors.index.json mapping each tensor name to its shard.
  void WriteIndex(const std::vector<std::pair<std::string, std::string>>& weight_map) {
    nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                            {"weight_map", nlohmann::json::object()}};
    for (const auto& [tensor, shard] : weight_map) index["weight_map"][tensor] = shard;
    WriteText(Path(kIndexFileName), index.dump(2));
  }

  // Two shards: a and b in the first, c in the second.
  void WriteTwoShards() {
    WriteShard(Path("model-00001-of-00002.safetensors"), {{"a", {2, 3}}, {"b", {4}}});
    WriteShard(Path("model-00002-of-00002.safetensors"), {{"c", {5}}});
  }

  // Checks that `name` is found in shard `shard` with `shape`, and reads back its bytes.
  static void ExpectTensor(const Checkpoint& ckpt, const std::string& name, int shard,
                           const std::vector<int64_t>& shape) {
    SCOPED_TRACE(name);
    const Checkpoint::Entry* e = ckpt.Find(name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->shard, shard);
    ASSERT_NE(e->info, nullptr);
    EXPECT_EQ(e->info->name, name);
    EXPECT_EQ(e->info->dtype, DType::kF32);
    EXPECT_EQ(e->info->shape, shape);
    ASSERT_LT(static_cast<size_t>(e->shard), ckpt.shards().size());
    const SafetensorsFile& file = *ckpt.shards()[e->shard];
    EXPECT_EQ(file.Find(name), e->info);
    std::string got(e->info->nbytes(), '\0');
    ASSERT_TRUE(file.Read(*e->info, got.data()).ok());
    EXPECT_EQ(got, BytesFor(name, e->info->nbytes()));
  }

  static std::vector<std::string> Names(const Checkpoint& ckpt) {
    std::vector<std::string> names;
    for (const Checkpoint::Entry& e : ckpt.tensors()) names.push_back(e.info->name);
    return names;
  }

  std::string dir_;
};

TEST_F(CheckpointTest, OpensASingleSafetensorsFile) {
  const std::string path = Path("weights.safetensors");
  WriteShard(path, {{"x", {3}}, {"y", {1, 2}}});
  auto r = Checkpoint::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Checkpoint& ckpt = **r;
  EXPECT_EQ(ckpt.path(), path);
  ASSERT_EQ(ckpt.shards().size(), 1u);
  EXPECT_EQ(ckpt.shards()[0]->name(), path);
  EXPECT_EQ(Names(ckpt), (std::vector<std::string>{"x", "y"}));
  ExpectTensor(ckpt, "x", 0, {3});
  ExpectTensor(ckpt, "y", 0, {1, 2});
  EXPECT_EQ(ckpt.Find("z"), nullptr);
  EXPECT_EQ(ckpt.config_path(), "");
}

TEST_F(CheckpointTest, SingleFileFindsConfigNextToIt) {
  const std::string path = Path("weights.safetensors");
  WriteShard(path, {{"x", {3}}});
  WriteText(Path(kConfigFileName), "{}");
  auto r = Checkpoint::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->config_path(), Path(kConfigFileName));
}

TEST_F(CheckpointTest, OpensADirectoryWithModelSafetensors) {
  WriteShard(Path("model.safetensors"), {{"w", {2, 2}}, {"v", {3}}});
  WriteText(Path(kConfigFileName), "{}");
  for (ReadMode mode : {ReadMode::kPread, ReadMode::kMmap}) {
    auto r = Checkpoint::Open(dir_, mode);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Checkpoint& ckpt = **r;
    EXPECT_EQ(ckpt.path(), dir_);
    EXPECT_EQ(ckpt.config_path(), Path(kConfigFileName));
    ASSERT_EQ(ckpt.shards().size(), 1u);
    EXPECT_EQ(ckpt.shards()[0]->name(), Path("model.safetensors"));
    // Data order: w was declared first.
    EXPECT_EQ(Names(ckpt), (std::vector<std::string>{"w", "v"}));
    ExpectTensor(ckpt, "w", 0, {2, 2});
    ExpectTensor(ckpt, "v", 0, {3});
    const Checkpoint::Entry* v = ckpt.Find("v");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(ckpt.shards()[0]->MappedData(*v->info) != nullptr, mode == ReadMode::kMmap);
  }
}

TEST_F(CheckpointTest, OpensAShardedDirectory) {
  WriteTwoShards();
  WriteIndex({{"a", "model-00001-of-00002.safetensors"},
              {"b", "model-00001-of-00002.safetensors"},
              {"c", "model-00002-of-00002.safetensors"}});
  // A stray model.safetensors is ignored when the index exists.
  WriteShard(Path("model.safetensors"), {{"stray", {1}}});
  auto r = Checkpoint::Open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Checkpoint& ckpt = **r;
  EXPECT_EQ(ckpt.config_path(), "");
  ASSERT_EQ(ckpt.shards().size(), 2u);
  EXPECT_EQ(ckpt.shards()[0]->name(), Path("model-00001-of-00002.safetensors"));
  EXPECT_EQ(ckpt.shards()[1]->name(), Path("model-00002-of-00002.safetensors"));
  // Shard order, then data order.
  EXPECT_EQ(Names(ckpt), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ckpt.tensors()[2].shard, 1);
  ExpectTensor(ckpt, "a", 0, {2, 3});
  ExpectTensor(ckpt, "b", 0, {4});
  ExpectTensor(ckpt, "c", 1, {5});
  EXPECT_EQ(ckpt.Find("stray"), nullptr);
  EXPECT_EQ(ckpt.Find(""), nullptr);
}

TEST_F(CheckpointTest, ShardsAreOrderedByNameNotByIndexOrder) {
  WriteShard(Path("b.safetensors"), {{"first", {1}}});
  WriteShard(Path("a.safetensors"), {{"second", {1}}});
  WriteIndex({{"first", "b.safetensors"}, {"second", "a.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)->shards().size(), 2u);
  EXPECT_EQ((*r)->shards()[0]->name(), Path("a.safetensors"));
  ExpectTensor(**r, "second", 0, {1});
  ExpectTensor(**r, "first", 1, {1});
}

TEST_F(CheckpointTest, MissingPathFails) {
  const std::string path = Path("does-not-exist");
  auto r = Checkpoint::Open(path);
  EXPECT_TRUE(FailsWith(r.status(), {path, "no such file"}));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointTest, DirectoryWithoutIndexOrModelFails) {
  WriteText(Path(kConfigFileName), "{}");
  WriteShard(Path("other.safetensors"), {{"x", {1}}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {dir_, kIndexFileName, "model.safetensors"}));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointTest, IndexWithInvalidJsonFails) {
  WriteTwoShards();
  WriteText(Path(kIndexFileName), R"({"weight_map": {"a": )");
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path(kIndexFileName), "invalid JSON"}));
}

TEST_F(CheckpointTest, IndexWithoutWeightMapFails) {
  WriteTwoShards();
  WriteText(Path(kIndexFileName), R"({"metadata": {"total_size": 44}})");
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path(kIndexFileName), "weight_map", "missing"}));
}

TEST_F(CheckpointTest, IndexWhoseWeightMapIsNotAnObjectFails) {
  WriteTwoShards();
  WriteText(Path(kIndexFileName), R"({"weight_map": ["a", "b"]})");
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir_).status(), {Path(kIndexFileName), "weight_map"}));
}

TEST_F(CheckpointTest, IndexThatIsNotAnObjectFails) {
  WriteTwoShards();
  WriteText(Path(kIndexFileName), "[1, 2]");
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir_).status(), {Path(kIndexFileName)}));
}

TEST_F(CheckpointTest, IndexWithEmptyWeightMapFails) {
  WriteTwoShards();
  WriteIndex({});
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir_).status(),
                        {Path(kIndexFileName), "weight_map", "names no tensors"}));
}

TEST_F(CheckpointTest, IndexWithNonStringShardFails) {
  WriteTwoShards();
  WriteText(Path(kIndexFileName), R"({"weight_map": {"a": 1}})");
  EXPECT_TRUE(FailsWith(Checkpoint::Open(dir_).status(),
                        {Path(kIndexFileName), "weight_map.a", "shard file name"}));
}

TEST_F(CheckpointTest, IndexNamingAMissingShardFails) {
  WriteTwoShards();
  WriteIndex({{"a", "model-00001-of-00002.safetensors"},
              {"c", "model-00002-of-00002.safetensors"},
              {"d", "model-00003-of-00003.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path(kIndexFileName), "model-00003-of-00003.safetensors",
                                     "'d'", "does not exist"}));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointTest, IndexNamingATensorItsShardLacksFails) {
  WriteTwoShards();
  WriteIndex({{"a", "model-00001-of-00002.safetensors"},
              {"b", "model-00001-of-00002.safetensors"},
              {"c", "model-00002-of-00002.safetensors"},
              {"model.layers.9.mlp.up_proj.weight", "model-00002-of-00002.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path(kIndexFileName), "'model.layers.9.mlp.up_proj.weight'",
                                     Path("model-00002-of-00002.safetensors")}));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointTest, IndexPlacingATensorInTheWrongShardFails) {
  WriteTwoShards();
  WriteIndex({{"a", "model-00001-of-00002.safetensors"},
              {"b", "model-00002-of-00002.safetensors"},
              {"c", "model-00002-of-00002.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {"'b'", Path("model-00002-of-00002.safetensors")}));
}

TEST_F(CheckpointTest, SameTensorInTwoShardsFails) {
  WriteShard(Path("model-00001-of-00002.safetensors"), {{"a", {2}}, {"dup", {3}}});
  WriteShard(Path("model-00002-of-00002.safetensors"), {{"dup", {3}}, {"c", {1}}});
  WriteIndex({{"a", "model-00001-of-00002.safetensors"},
              {"dup", "model-00002-of-00002.safetensors"},
              {"c", "model-00002-of-00002.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {"'dup'", Path("model-00001-of-00002.safetensors"),
                                     Path("model-00002-of-00002.safetensors")}));
}

TEST_F(CheckpointTest, ShardNameWithSlashFails) {
  WriteTwoShards();
  ASSERT_TRUE(CreateDirectories(Path("sub")).ok());
  WriteShard(Path("sub/model-00003.safetensors"), {{"d", {1}}});
  for (std::string_view shard : {"sub/model-00003.safetensors",
                                 "../model-00001-of-00002.safetensors", "/etc/passwd", "..", "."}) {
    SCOPED_TRACE(shard);
    WriteIndex({{"a", "model-00001-of-00002.safetensors"}, {"d", std::string(shard)}});
    auto r = Checkpoint::Open(dir_);
    const std::string quoted = fmt::format("'{}'", shard);
    EXPECT_TRUE(FailsWith(r.status(), {Path(kIndexFileName), "weight_map.d", quoted, "file name"}));
  }
}

TEST_F(CheckpointTest, CorruptShardFailsNamingTheShard) {
  WriteTwoShards();
  WriteText(Path("model-00002-of-00002.safetensors"), "not a safetensors file");
  WriteIndex(
      {{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00002-of-00002.safetensors"}});
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path("model-00002-of-00002.safetensors"), "header length"}));
}

TEST_F(CheckpointTest, CorruptSingleFileFailsNamingTheFile) {
  WriteText(Path("model.safetensors"), std::string(4, '\0'));
  auto r = Checkpoint::Open(dir_);
  EXPECT_TRUE(FailsWith(r.status(), {Path("model.safetensors"), "header length"}));
}

}  // namespace
}  // namespace omnisage
