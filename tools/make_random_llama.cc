// make_random_llama: writes a randomly initialised Llama-shaped model
// directory (llama2.c legacy checkpoint, tokenizer and atman-model.json) that
// LoadModelDirectory accepts. The defaults are a 100M-parameter model of
// Llama-2 proportions with grouped-query attention.
//
//   make_random_llama --tokenizer=tok512.model --out=/tmp/random-llama

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tools/random_llama.h"

ABSL_FLAG(int32_t, dim, 768, "model width (embedding size)");
ABSL_FLAG(int32_t, hidden_dim, 2048, "width of the SwiGLU feed-forward layer");
ABSL_FLAG(int32_t, layers, 12, "number of transformer layers");
ABSL_FLAG(int32_t, heads, 12, "number of query heads");
ABSL_FLAG(int32_t, kv_heads, 4, "number of key/value heads (grouped-query attention)");
ABSL_FLAG(int32_t, vocab, 32000, "vocabulary size of the embedding and output matrices");
ABSL_FLAG(int32_t, seq_len, 512, "context length in tokens, written to the header");
ABSL_FLAG(uint64_t, seed, 1, "seed of the weights; the same seed and shape give the same file");
ABSL_FLAG(double, init_std, 0.02, "standard deviation of the normal weight matrices");
ABSL_FLAG(bool, separate_output, false,
          "write a separate output matrix instead of tying it to the token embedding");
ABSL_FLAG(std::string, tokenizer, "",
          "SentencePiece .model copied into the directory (required)");
ABSL_FLAG(std::string, name, "random-llama", "model name written to atman-model.json");
ABSL_FLAG(std::string, out, "", "directory to write, created when missing (required)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes a random Llama-shaped model directory.\n"
      "Usage: make_random_llama --tokenizer=FILE.model --out=DIR [--dim=768 ...]");
  absl::ParseCommandLine(argc, argv);

  atman::tools::RandomLlamaOptions options;
  options.dim = absl::GetFlag(FLAGS_dim);
  options.hidden_dim = absl::GetFlag(FLAGS_hidden_dim);
  options.layers = absl::GetFlag(FLAGS_layers);
  options.heads = absl::GetFlag(FLAGS_heads);
  options.kv_heads = absl::GetFlag(FLAGS_kv_heads);
  options.vocab_size = absl::GetFlag(FLAGS_vocab);
  options.seq_len = absl::GetFlag(FLAGS_seq_len);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.init_std = absl::GetFlag(FLAGS_init_std);
  options.separate_output = absl::GetFlag(FLAGS_separate_output);
  options.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  options.name = absl::GetFlag(FLAGS_name);
  options.output_dir = absl::GetFlag(FLAGS_out);

  const absl::Status status = atman::tools::WriteRandomLlama(options);
  if (!status.ok()) {
    std::fprintf(stderr, "make_random_llama: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  std::printf("wrote %s: %.1f MB of float32 weights\n", options.output_dir.c_str(),
              static_cast<double>(atman::tools::RandomLlamaWeightBytes(options)) / 1e6);
  return 0;
}
