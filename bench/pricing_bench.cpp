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

// The base64 text of each frame's "message" field.
const std::vector<std::string>& encoded() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        for (const auto& f : frames()) {
            const auto at = f.find("\"message\":\"") + 11;
            out.push_back(f.substr(at, f.find('"', at) - at));
        }
        return out;
    }();
    return v;
}

// The protobuf bytes of every frame.
const std::vector<std::string>& messages() {
    static const std::vector<std::string> v = [] {
        std::vector<std::string> out;
        for (const auto& e : encoded()) {
            std::string bytes;
            if (!base64_decode(e, bytes)) throw std::runtime_error("bad fixture frame");
            out.push_back(std::move(bytes));
        }
        return out;
    }();
    return v;
}

// One input per iteration, cycling through `inputs`; items and bytes are the inputs' count and size.
template <class Step> void cycle(benchmark::State& state, const std::vector<std::string>& inputs, Step&& step) {
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        step(inputs[i]);
        bytes += inputs[i].size();
        i = i + 1 == inputs.size() ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void bm_hand_decode(benchmark::State& state) {
    pricing_data d;
    cycle(state, messages(), [&](const std::string& m) {
        if (!decode_pricing(m, d).ok()) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(d);
    });
}

// One message object reused (strings keep their capacity), as a careful libprotobuf user would.
void bm_libprotobuf_parse(benchmark::State& state) {
    PricingData p;
    cycle(state, messages(), [&](const std::string& m) {
        if (!p.ParseFromString(m)) state.SkipWithError("parse failed");
        benchmark::DoNotOptimize(p);
    });
}

void bm_base64_decode(benchmark::State& state) {
    std::string out;
    cycle(state, encoded(), [&](const std::string& e) {
        if (!base64_decode(e, out)) state.SkipWithError("bad base64");
        benchmark::DoNotOptimize(out.data());
    });
}

// A whole v2 text frame to tick JSON: what the stream task does per frame, minus the socket and
// the outbox.
void bm_frame_to_tick_json(benchmark::State& state) {
    frame_to_tick f;
    char space[256];
    json_buffer json(space, sizeof space);
    cycle(state, frames(), [&](const std::string& frame) {
        const auto o = f.process(frame, json);
        if (o.kind != frame_outcome::what::tick) state.SkipWithError("no tick");
        benchmark::DoNotOptimize(o.json.data());
    });
}

BENCHMARK(bm_hand_decode);
BENCHMARK(bm_libprotobuf_parse);
BENCHMARK(bm_base64_decode);
BENCHMARK(bm_frame_to_tick_json);

} // namespace

BENCHMARK_MAIN();
