// The one test binary's main; tests live in *_test.cpp beside it, tagged by area.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

// Each test case runs in a folder of its own under the scratch folder ctest starts it in, so two
// test cases that ctest runs at once never share a file by name (a database, a child's output).
// The folder is named after the test case: its files are easy to find after a failure.
std::string folder_for(const std::string& name) {
    std::string slug;
    for (char c : name) {
        const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (word)
            slug += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        else if (!slug.empty() && slug.back() != '-')
            slug += '-';
        if (slug.size() >= 60) break;
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    std::uint32_t h = 2166136261U; // the full name's hash keeps names alike at the start apart
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
    char tail[16];
    std::snprintf(tail, sizeof tail, "-%08x", h);
    return slug + tail;
}

struct own_folder_per_test : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    std::filesystem::path home;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        home = std::filesystem::current_path();
        const std::filesystem::path dir = home / folder_for(info.name);
        std::filesystem::create_directories(dir);
        std::filesystem::current_path(dir);
    }
    void testCaseEnded(const Catch::TestCaseStats&) override {
        if (!home.empty()) std::filesystem::current_path(home);
    }
};

} // namespace

CATCH_REGISTER_LISTENER(own_folder_per_test)
