// Content parts as the request parser reads them: data URLs, image_url parts on models with and
// without a vision encoder, and the parts this build refuses.
#include "server/openai_request.h"

#include <gtest/gtest.h>

#include "server/base64.h"
#include "server/data_url.h"

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

TEST(OpenAiRequestTest, VideoPartsAreRefusedSayingWhy) {
  ApiCapabilities caps;
  caps.image_input = true;
  ApiRequest r;
  for (const char* type : {"video_url", "video"}) {
    const nlohmann::json body = {
        {"messages",
         {{{"role", "user"},
           {"content", {{{"type", type}, {type, {{"url", "data:video/mp4;base64,AAAA"}}}}}}}}}};
    auto e = ParseApiRequest(body.dump(), true, GenerateOptions{}, caps, &r);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->http_status, 400);
    EXPECT_NE(e->message.find("video input is not in the engine yet"), std::string::npos)
        << e->message;
  }
}

}  // namespace
}  // namespace omnisage
