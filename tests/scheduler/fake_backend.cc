#include "tests/scheduler/fake_backend.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace atman::scheduler::fakes {

void FakeEngine::SetPrepareGateOpen(bool open) {
  absl::MutexLock lock(&mutex_);
  prepare_gate_open_ = open;
}

void FakeEngine::SetBatchGateOpen(bool open) {
  absl::MutexLock lock(&mutex_);
  allowed_batches_ = open ? std::numeric_limits<int>::max() : static_cast<int>(batches_.size());
}

void FakeEngine::AllowBatches(int count) {
  absl::MutexLock lock(&mutex_);
  allowed_batches_ = count;
}

void FakeEngine::AwaitPreparesStarted(int count) {
  absl::MutexLock lock(&mutex_);
  auto started = [this, count]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return prepares_started_ >= count; };
  mutex_.Await(absl::Condition(&started));
}

void FakeEngine::AwaitBatchesStarted(int count) {
  absl::MutexLock lock(&mutex_);
  auto started = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return static_cast<int>(batches_.size()) >= count;
  };
  mutex_.Await(absl::Condition(&started));
}

int FakeEngine::prepares_started() const {
  absl::MutexLock lock(&mutex_);
  return prepares_started_;
}

int FakeEngine::batches_started() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int>(batches_.size());
}

std::vector<BatchRecord> FakeEngine::batches() const {
  absl::MutexLock lock(&mutex_);
  return batches_;
}

void FakeEngine::set_bytes_per_token_row(int64_t bytes) {
  absl::MutexLock lock(&mutex_);
  bytes_per_token_row_ = bytes;
}

int64_t FakeEngine::bytes_per_token_row() const {
  absl::MutexLock lock(&mutex_);
  return bytes_per_token_row_;
}

void FakeEngine::set_batch_duration(FakeClock* clock, absl::Duration duration) {
  absl::MutexLock lock(&mutex_);
  clock_ = clock;
  batch_duration_ = duration;
}

void FakeEngine::set_batch_error(absl::Status error) {
  absl::MutexLock lock(&mutex_);
  batch_error_ = std::move(error);
}

void FakeEngine::EnterPrepare() {
  absl::MutexLock lock(&mutex_);
  ++prepares_started_;
  mutex_.Await(absl::Condition(&prepare_gate_open_));
}

absl::Status FakeEngine::EnterBatch(BatchRecord record) {
  FakeClock* clock = nullptr;
  absl::Duration duration;
  absl::Status error;
  {
    absl::MutexLock lock(&mutex_);
    const int number = static_cast<int>(batches_.size());
    batches_.push_back(std::move(record));
    auto allowed = [this, number]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return number < allowed_batches_; };
    mutex_.Await(absl::Condition(&allowed));
    clock = clock_;
    duration = batch_duration_;
    error = batch_error_;
  }

  // The clock is advanced outside mutex_ because it locks the scheduler's
  // mutex to wake timed waiters.
  if (clock != nullptr) clock->AdvanceTime(duration);
  return error;
}

FakeWork::FakeWork(std::string prompt, int64_t target_tokens)
    : prompt_(std::move(prompt)), target_tokens_(target_tokens) {}

int64_t FakeWork::perturbation_count() const { return static_cast<int64_t>(prompt_.size()); }

int64_t FakeWork::sequence_length() const {
  return static_cast<int64_t>(prompt_.size()) + target_tokens_;
}

CrossEntropies FakeCrossEntropies(const FakeWork& work, int64_t index) {
  int64_t seed = 0;
  for (const char c : work.prompt()) seed = (seed * 31 + static_cast<unsigned char>(c)) % 1009;

  CrossEntropies values;
  for (int64_t t = 0; t < work.target_tokens(); ++t) {
    values.push_back(static_cast<double>(seed % 101) * 0.01 + static_cast<double>(index) * 0.25 +
                     static_cast<double>(t) * 0.125);
  }
  return values;
}

FakeBackend::FakeBackend(std::string device, FakeEngine* engine)
    : device_(std::move(device)), engine_(engine) {}

absl::StatusOr<int64_t> FakeBackend::EstimateSequenceLength(
    const engine::ExplainInput& input) const {
  if (absl::StartsWith(input.prompt_text, "bad")) {
    return absl::InvalidArgumentError(absl::StrCat("prompt \"", input.prompt_text, "\" is bad"));
  }
  const int64_t target = input.target.empty() ? static_cast<int64_t>(input.max_new_tokens)
                                              : static_cast<int64_t>(input.target.size());
  return static_cast<int64_t>(input.prompt_text.size()) + target;
}

int64_t FakeBackend::EstimateBatchBytes(int64_t sequence_length, int64_t rows) const {
  return sequence_length * rows * engine_->bytes_per_token_row();
}

absl::StatusOr<std::shared_ptr<PreparedWork>> FakeBackend::Prepare(
    const engine::ExplainInput& input) {
  engine_->EnterPrepare();
  if (absl::StartsWith(input.prompt_text, "fail")) {
    return absl::InternalError(absl::StrCat("preparing \"", input.prompt_text, "\" failed"));
  }
  const int64_t target = input.target.empty() ? static_cast<int64_t>(input.max_new_tokens)
                                              : static_cast<int64_t>(input.target.size());
  return std::make_shared<FakeWork>(input.prompt_text, target);
}

absl::StatusOr<std::vector<CrossEntropies>> FakeBackend::RunBatch(
    const std::vector<Slice>& slices) {
  BatchRecord record;
  record.device = device_;
  std::vector<CrossEntropies> results;
  for (const Slice& slice : slices) {
    const auto& work = dynamic_cast<const FakeWork&>(*slice.work);
    record.slices.push_back({work.prompt(), slice.begin, slice.end});
    record.rows += slice.size();
    for (int64_t index = slice.begin; index < slice.end; ++index) {
      results.push_back(FakeCrossEntropies(work, index));
    }
  }

  absl::Status error = engine_->EnterBatch(std::move(record));
  if (!error.ok()) return error;
  return results;
}

absl::StatusOr<engine::ExplainResult> FakeBackend::Finalize(
    const PreparedWork& work, const std::vector<CrossEntropies>& perturbed) const {
  const auto& fake = dynamic_cast<const FakeWork&>(work);
  engine::ExplainResult result;
  result.target = std::to_string(fake.target_tokens());
  engine::ScoreSet scores;
  for (size_t i = 0; i < perturbed.size(); ++i) {
    if (perturbed[i].empty()) {
      return absl::InternalError(absl::StrCat("perturbation ", i, " has no cross entropies"));
    }
    engine::UnitScore unit;
    unit.unit.text = fake.prompt().substr(i, 1);
    for (const double value : perturbed[i]) unit.score += value;
    scores.spans.push_back(std::move(unit));
  }
  result.explanations.push_back(std::move(scores));
  return result;
}

engine::ExplainResult ReferenceResult(const engine::ExplainInput& input) {
  FakeEngine engine;
  FakeBackend backend("reference", &engine);
  std::shared_ptr<PreparedWork> work = backend.Prepare(input).value();
  const std::vector<CrossEntropies> perturbed =
      backend.RunBatch({{work.get(), 0, work->perturbation_count()}}).value();
  return backend.Finalize(*work, perturbed).value();
}

}  // namespace atman::scheduler::fakes
