// Subcommands of the cosyflow CLI; each registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

namespace cosyflow::cli {

// --text-file is read whole (the text normalizer's max_chars refuses long text with its own
// error; this bound only keeps a wrong path such as /dev/zero from filling memory).
inline constexpr int64_t kMaxTextFileBytes = int64_t{64} << 20;

void PrintVersion();
void RegisterInspect(CLI::App& app);
void RegisterCheck(CLI::App& app);
void RegisterTokenize(CLI::App& app);
void RegisterNormalize(CLI::App& app);
void RegisterSynth(CLI::App& app);
void RegisterServe(CLI::App& app);
void RegisterSay(CLI::App& app);
void RegisterVoice(CLI::App& app);
void RegisterHttp(CLI::App& app);
void RegisterWyoming(CLI::App& app);
// Exit code set by the subcommand that ran (0 = success).
int ExitCode();
void SetExitCode(int code);

}  // namespace cosyflow::cli
