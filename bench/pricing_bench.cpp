// The Yahoo streamer's frame decode (src/sources/yahoo_pricing.hpp): the hand-written PricingData
// decoder against libprotobuf's generated ParseFromString on the same bytes, and the whole frame
// path (JSON, base64, protobuf, tick, tick JSON). Input: the 35 recorded BTC-USD v2 frames,
// cycled. See README.md, "Streamer frame decode".
#include <benchmark/benchmark.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pricing.pb.h"
#include "src/base/base64.hpp"
#include "src/sources/yahoo_pricing.hpp"

namespace {

using namespace tapewire;
using namespace tapewire::yahoo;

const std::vector<std::string>& frames() {
    static const std::vector<std::string> v = [] {
        std::ifstream in(std::string(TAPEWIRE_SOURCE_DIR) + "/test/fixtures/yahoo/ws_v2_frames_BTC-USD.txt");
        if (!in) throw std::runtime_error("missing test/fixtures/yahoo/ws_v2_frames_BTC-USD.txt");
        std::vector<std::string> out;
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) out.push_back(line);
        return out;
    }();
    return v;
}

// The protobuf bytes of every frame.
const std::vector<std::string>& messages() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        for (const auto& f : frames()) {
            const auto at = f.find("\"message\":\"") + 11;
            std::string bytes;
            if (!base64_decode(std::string_view(f).substr(at, f.find('"', at) - at), bytes))
                throw std::runtime_error("bad fixture frame");
            out.push_back(std::move(bytes));
        }
        return out;
    }();
    return v;
}

void bm_hand_decode(benchmark::State& state) {
    const auto& msgs = messages();
    pricing_data d;
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        const auto& m = msgs[i];
        if (!decode_pricing(m, d).ok()) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(d);
        bytes += m.size();
        i = i + 1 == msgs.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// One message object reused (strings keep their capacity), as a careful libprotobuf user would.
void bm_libprotobuf_parse(benchmark::State& state) {
    const auto& msgs = messages();
    PricingData p;
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        const auto& m = msgs[i];
        if (!p.ParseFromString(m)) state.SkipWithError("parse failed");
        benchmark::DoNotOptimize(p);
        bytes += m.size();
        i = i + 1 == msgs.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void bm_base64_decode(benchmark::State& state) {
    std::vector<std::string> b64;
    for (const auto& f : frames()) {
        const auto at = f.find("\"message\":\"") + 11;
        b64.push_back(f.substr(at, f.find('"', at) - at));
    }
    std::string out;
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        if (!base64_decode(b64[i], out)) state.SkipWithError("bad base64");
        benchmark::DoNotOptimize(out.data());
        bytes += b64[i].size();
        i = i + 1 == b64.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

// A whole v2 text frame to tick JSON: what the stream task does per frame, minus the socket and
// the outbox.
void bm_frame_to_tick_json(benchmark::State& state) {
    const auto& fr = frames();
    frame_to_tick f;
    char space[256];
    json_buffer json(space, sizeof space);
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        const auto o = f.process(fr[i], json);
        if (o.kind != frame_outcome::what::tick) state.SkipWithError("no tick");
        benchmark::DoNotOptimize(o.json.data());
        bytes += fr[i].size();
        i = i + 1 == fr.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

BENCHMARK(bm_hand_decode);
BENCHMARK(bm_libprotobuf_parse);
BENCHMARK(bm_base64_decode);
BENCHMARK(bm_frame_to_tick_json);

} // namespace

BENCHMARK_MAIN();
