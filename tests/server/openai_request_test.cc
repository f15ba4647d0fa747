// Content parts as the request parser reads them: data URLs, image_url parts on models with and
// without a vision encoder, video_url parts (their temporary files, use_audio_in_video) and bad
// parts.
#include "server/openai_request.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/base64.h"
#include "server/data_url.h"
#include "source_paths.h"

namespace omnisage {
namespace {

TEST(DataUrlTest, DecodesBase64AndNamesWhatIsWrong) {
  auto ok = ParseDataUrl("DATA:Image/PNG;name=x.png;base64," + Base64Encode("abc"), "p");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->media_type, "image/png");
  EXPECT_EQ(ok->bytes, "abc");
  auto none = ParseDataUrl(";base64," + Base64Encode("abc"), "p");
  EXPECT_FALSE(none.ok());
  for (const auto& [url, words] : std::vector<std::pair<std::string, std::string>>{
           {"https://x/y.png", "not a data URL"},
           {"data:image/png;base64", "needs a comma"},
           {"data:image/png,abc", "must be base64"},
           {"data:image/png;base64,@@@@", "not base64"},
           {"data:image/png;base64,", "holds no data"}}) {
    auto r = ParseDataUrl(url, "messages[2].content[1]");
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("messages[2].content[1]"), std::string::npos);
  }
  EXPECT_TRUE(IsDataUrl("data:,x"));
  EXPECT_FALSE(IsDataUrl("dat"));
}

std::optional<ApiError> ParseImage(const std::string& url, const ApiCapabilities& caps,
                                   ApiRequest* out) {
  const nlohmann::json body = {
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "look"}},
           {{"type", "image_url"}, {"image_url", {{"url", url}, {"detail", "high"}}}}}}}}}};
  return ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, out);
}

TEST(OpenAiRequestTest, ImagePartsNeedAVisionEncoderAndADataUrl) {
  ApiRequest r;
  ApiCapabilities none;
  auto e = ParseImage("https://example.com/a.png", none, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->http_status, 400);
  EXPECT_NE(e->message.find("not supported by this model (it has no vision encoder)"),
            std::string::npos)
      << e->message;
  none.no_image_reason = "preprocessor_config.json: bad";
  e = ParseImage("https://example.com/a.png", none, &r);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("preprocessor_config.json: bad"), std::string::npos) << e->message;

  ApiCapabilities vision;
  vision.image_input = true;
  e = ParseImage("http://example.com/a.png", vision, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "messages[0].content[1].image_url.url");
  EXPECT_NE(e->message.find("only data URLs are accepted"), std::string::npos) << e->message;
  e = ParseImage("data:image/png;base64," + Base64Encode("GIF89a not a png"), vision, &r);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("messages[0].content[1]"), std::string::npos) << e->message;
}

TEST(OpenAiRequestTest, AnImageBecomesAnImagePartAndItsPixels) {
  // A 1×1 grey PNG (Pillow: Image.new("L", (1, 1), 128)).
  const std::string png = *Base64Decode(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg"
      "==");
  ApiCapabilities vision;
  vision.image_input = true;
  ApiRequest r;
  auto e = ParseImage("data:image/png;base64," + Base64Encode(png), vision, &r);
  ASSERT_FALSE(e) << e->message;
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.images[0].name, "messages[0].content[1]");
  EXPECT_EQ(r.images[0].image.width, 1);
  EXPECT_EQ(r.images[0].image.rgb.size(), 3u);
  ASSERT_EQ(r.messages[0].parts.size(), 2u);
  EXPECT_EQ(r.messages[0].parts[1].kind, MessagePart::Kind::kImage);
  std::string text;
  ASSERT_FALSE(PromptText(r, &text));
  EXPECT_NE(text.find("look<|vision_start|><|image_pad|><|vision_end|>"), std::string::npos)
      << text;
}

std::string ReadGoldenVideo(const std::string& name) {
  std::ifstream in(::omnisage::test_paths::SourceDir() + "/tests/golden/video/" + name,
                   std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

nlohmann::json VideoBody(const nlohmann::json& url) {
  return {{"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "text"}, {"text", "look"}},
               {{"type", "video_url"}, {"video_url", {{"url", url}}}}}}}}}};
}

// A video_url data URL is written to a temporary file, probed and placed as a video part; the
// file goes with the request.
TEST(OpenAiRequestTest, AVideoBecomesAVideoPartAndATemporaryFile) {
  ApiCapabilities caps;
  caps.image_input = true;
  std::string path;
  {
    ApiRequest r;
    auto e = ParseApiRequest(
        VideoBody("data:video/mp4;base64," + Base64Encode(ReadGoldenVideo("yuv_h264.mp4"))).dump(),
        true, GenerateOptions{}, caps, &r);
    ASSERT_FALSE(e) << e->message;
    ASSERT_EQ(r.videos.size(), 1u);
    ASSERT_EQ(r.video_files.size(), 1u);
    path = r.video_files[0]->path();
    EXPECT_EQ(r.videos[0].name, path);
    EXPECT_EQ(r.video_files[0]->part(), "messages[0].content[1]");
    EXPECT_GT(r.videos[0].info.num_frames, 1);
    EXPECT_TRUE(r.videos[0].sound.empty());
    EXPECT_FALSE(r.use_audio_in_video);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    ASSERT_EQ(r.messages[0].parts.size(), 2u);
    EXPECT_EQ(r.messages[0].parts[1].kind, MessagePart::Kind::kVideo);
    std::string text;
    ASSERT_FALSE(PromptText(r, &text));
    EXPECT_NE(text.find("look<|vision_start|><|video_pad|><|vision_end|>"), std::string::npos)
        << text;
    EXPECT_EQ(NameVideoParts("bad: " + path + ": frame 3", r),
              "bad: messages[0].content[1]: frame 3");
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << path;
}

TEST(OpenAiRequestTest, AVideoHeardWithItsSoundCarriesIt) {
  ApiCapabilities caps;
  caps.image_input = true;
  nlohmann::json body =
      VideoBody("data:video/x-matroska;base64," + Base64Encode(ReadGoldenVideo("av_ffv1.mkv")));
  body["use_audio_in_video"] = true;
  ApiRequest r;
  auto e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_TRUE(e);  // no audio encoder
  EXPECT_EQ(e->param, "use_audio_in_video");
  caps.audio_input = true;
  e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_TRUE(r.use_audio_in_video);
  ASSERT_EQ(r.videos.size(), 1u);
  EXPECT_GT(r.videos[0].sound.size(), 16000u);  // 16 kHz mono, longer than a second
  // A silent video heard: a 400 naming the part, not the temporary file.
  body = VideoBody("data:video/mp4;base64," + Base64Encode(ReadGoldenVideo("yuv_h264.mp4")));
  body["use_audio_in_video"] = true;
  e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->http_status, 400);
  EXPECT_EQ(e->param, "messages[0].content[1].video_url.url");
  EXPECT_NE(e->message.find("messages[0].content[1]: the video has no audio track"),
            std::string::npos)
      << e->message;
  body["use_audio_in_video"] = "yes";
  e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "use_audio_in_video");
  body.erase("use_audio_in_video");
  body["mm_processor_kwargs"] = {{"use_audio_in_video", true}};
  e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("send use_audio_in_video at the top"), std::string::npos) << e->message;
}

TEST(OpenAiRequestTest, BadVideoPartsAre400sNamingThePart) {
  ApiCapabilities none;
  ApiRequest r;
  const std::string mp4 = "data:video/mp4;base64," + Base64Encode(ReadGoldenVideo("yuv_h264.mp4"));
  auto e = ParseApiRequest(VideoBody(mp4).dump(), true, GenerateOptions{}, none, &r);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("video_url parts are not supported by this model (it has no vision "
                            "encoder)"),
            std::string::npos)
      << e->message;
  ApiCapabilities caps;
  caps.image_input = true;
  for (const auto& [url, words] : std::vector<std::pair<nlohmann::json, std::string>>{
           {"https://example.com/a.mp4", "this server downloads nothing"},
           {"file:///tmp/a.mp4", "this server downloads nothing"},
           {"data:video/mp4;base64,@@@@", "not base64"},
           {nlohmann::json::object(), "video_url needs"},
           {"data:video/mp4;base64," + Base64Encode("this is not a video file"),
            "messages[0].content[1]"}}) {
    e = ParseApiRequest(VideoBody(url).dump(), true, GenerateOptions{}, caps, &r);
    ASSERT_TRUE(e) << url.dump();
    EXPECT_EQ(e->http_status, 400);
    EXPECT_EQ(e->param, "messages[0].content[1].video_url.url");
    EXPECT_NE(e->message.find(words), std::string::npos) << e->message;
    EXPECT_EQ(e->message.find("omnisage-media-"), std::string::npos) << e->message;
  }
  nlohmann::json body = VideoBody(mp4);
  body["messages"][0]["content"][1] = {{"type", "video"}, {"video", "/etc/passwd"}};
  e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("a video part is {\"type\": \"video_url\""), std::string::npos)
      << e->message;
}

}  // namespace
}  // namespace omnisage
