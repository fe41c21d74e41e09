// The one base64 (src/base/base64): the SQL store's state column and the Yahoo streamer's frames.
#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "src/base/base64.hpp"

using namespace tapewire;

namespace {

// RFC 4648, section 10.
const std::pair<const char*, const char*> k_vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};

} // namespace

TEST_CASE("base64 encodes the RFC 4648 vectors and carries every byte value back", "[base64]") {
    for (const auto& [plain, enc] : k_vectors) CHECK(base64_encode(plain) == enc);
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    std::string text, back;
    const std::size_t sizes[] = {0, 1, 2, 3, 4, 255, 256};
    for (std::size_t n : sizes) {
        const std::string s = all.substr(0, n);
        base64_encode(s, text);
        CHECK(text.size() == (n + 2) / 3 * 4);
        REQUIRE(base64_decode(text, back));
        CHECK(back == s);
    }
    // A reused buffer: a shorter encoding after a longer one leaves nothing behind.
    base64_encode(all, text);
    base64_encode("f", text);
    CHECK(text == "Zg==");
}

TEST_CASE("base64 decodes the RFC 4648 vectors with or without padding", "[base64]") {
    std::string out;
    for (const auto& [plain, enc] : k_vectors) {
        REQUIRE(base64_decode(enc, out));
        CHECK(out == plain);
        std::string unpadded(enc);
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
        REQUIRE(base64_decode(unpadded, out));
        CHECK(out == plain);
    }
    REQUIRE(base64_decode("+/+/", out));
    CHECK(out == "\xfb\xff\xbf");
}

TEST_CASE("base64 rejects whitespace, the URL-safe alphabet and misplaced padding", "[base64]") {
    std::string out;
    for (const char* bad : {"Zm9v\n", "Zm 9v", " Zm9v", "Zm9v\r\n", "-_-_", "Zg=", "Z", "Zm9vY", "Zg==Zg==", "Z===",
                            "=", "==", "Zm9v====", "Zm=v", "Zm9\x80", "Zm9v!", "Zg=a", "Zm9v!A==", "=Zm9"}) {
        INFO(bad);
        CHECK_FALSE(base64_decode(bad, out));
    }
}
