#include "proto/multipart.h"

#include <gtest/gtest.h>

namespace bale::proto {
namespace {

TEST(MultipartTest, Boundary) {
  std::string b;
  ASSERT_TRUE(MultipartBoundary("multipart/form-data; boundary=abc", &b));
  EXPECT_EQ(b, "abc");
  ASSERT_TRUE(MultipartBoundary("Multipart/Form-Data; charset=x; boundary=\"a;b c\"", &b));
  EXPECT_EQ(b, "a;b c");
  EXPECT_FALSE(MultipartBoundary("multipart/form-data", &b));
  EXPECT_FALSE(MultipartBoundary("text/plain; boundary=abc", &b));
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=", &b));
}

TEST(MultipartTest, PartsKeepTheirBytes) {
  std::string value1("x\r\n--notit\r\n\0y", 14);
  std::string body =
      "preamble\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=\"a\"; filename=\"one.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n" +
      value1 +
      "\r\n--XyZ\r\n"
      "content-disposition: form-data; name=b\r\n\r\n"
      "\r\n--XyZ--\r\nepilogue";
  std::vector<MultipartPart> parts;
  ASSERT_TRUE(ParseMultipart(body, "XyZ", &parts).ok());
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "a");
  EXPECT_EQ(parts[0].filename, "one.jpg");
  EXPECT_EQ(parts[0].content_type, "image/jpeg");
  EXPECT_EQ(parts[0].body, value1);
  EXPECT_EQ(parts[1].name, "b");
  EXPECT_EQ(parts[1].filename, "");
  EXPECT_EQ(parts[1].body, "");
}

TEST(MultipartTest, MalformedBodies) {
  std::vector<MultipartPart> parts;
  const char* bad[] = {
      "",
      "--B",
      "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
      "--B\r\nContent-Disposition: form-data; name=a\r\nno blank line",
      "--B\r\nX-Other: 1\r\n\r\nv\r\n--B--",
      "--Bjunk\r\n",
  };
  for (const char* b : bad) {
    EXPECT_FALSE(ParseMultipart(b, "B", &parts).ok()) << b;
  }
}

TEST(MultipartTest, EveryTruncationFailsCleanly) {
  std::string body = "--B\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\nvalue\r\n--B--\r\n";
  std::vector<MultipartPart> parts;
  ASSERT_TRUE(ParseMultipart(body, "B", &parts).ok());
  size_t complete = body.find("--B--") + 5;
  for (size_t n = 0; n < complete; n++) {
    EXPECT_FALSE(ParseMultipart(body.substr(0, n), "B", &parts).ok()) << n;
  }
}

}  // namespace
}  // namespace bale::proto
