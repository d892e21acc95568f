# Hugging Face checkpoints: safetensors, Llama and GPT-2 models, GPT-2 BPE.
# RE2 classifies Unicode letters and numbers for GPT-2's pre-tokenizer.
# NOTE: engine-only builds need RE2 too (Debian: libre2-dev).
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

target_sources(atman_engine PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/gpt2.cc
  ${CMAKE_CURRENT_LIST_DIR}/gpt2_bpe_tokenizer.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_llama.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_loader.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
)
target_link_libraries(atman_engine PRIVATE
  absl::flat_hash_map
  PkgConfig::RE2
)
