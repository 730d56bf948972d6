// inhouse kb ask NAME "question" --model CHAT.gguf | kb summarize NAME NOTE --model CHAT.gguf:
// answers from a chat model over retrieved notes, streamed to stdout. `ask` cites sources as
// [n] and lists them after the answer; when nothing relevant is found it says so without asking
// the model. `summarize` summarises a long note piece by piece, then the pieces together.
#include <cstdio>
#include <future>
#include <memory>

#include "cli/kb_common.h"
#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace inhouse::cli {
namespace {

void write_out(FILE* f, const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), f);
  std::fflush(f);
}

// One chat model behind a one-slot scheduler: renders messages with the model's own template and
// returns the answer (reasoning split off: shown on stderr/stdout or hidden, as --reasoning says).
class ChatModel {
 public:
  explicit ChatModel(const KbOptions& o)
      : model_(model::Model::open(o.chat_model, {.threads = o.threads})),
        tokenizer_(tokenizer::Tokenizer::from_gguf(model_.file())),
        prompt_(engine::ChatPrompt::from_file(model_.file(), tokenizer_)),
        scheduler_(model_, tokenizer_, {.n_parallel = 1}),
        reasoning_to_(o.reasoning == "stderr" ? stderr : o.reasoning == "stdout" ? stdout : nullptr),
        max_tokens_(o.max_tokens),
        temperature_(o.temperature) {
    if (!prompt_) throw std::runtime_error("the chat model has no chat template (tokenizer.chat_template)");
  }

  size_t count_tokens(std::string_view text) const { return tokenizer_.encode(text, false, false).size(); }
  int64_t context() const { return scheduler_.n_ctx(); }

  // Streams the answer to `out` (null: silent) and returns it.
  std::string answer(const nlohmann::json& messages, FILE* out) {
    const std::string text = prompt_->render(messages);
    engine::GenerationRequest req;
    req.prompt = engine::tokenize_prompt(tokenizer_, text, /*rendered=*/true);
    req.sampling.temperature = float(temperature_);
    req.max_tokens = max_tokens_;
    req.split_reasoning = true;
    req.start_in_reasoning = engine::prompt_opens_reasoning(text);
    std::string content;
    req.on_delta = [&](const engine::TokenTextStream::Delta& d) {
      if (!d.reasoning.empty() && reasoning_to_) write_out(reasoning_to_, d.reasoning);
      content += d.content;
      if (out) write_out(out, d.content);
    };
    std::promise<engine::GenerationResult> done;
    req.on_done = [&](const engine::GenerationResult& r) { done.set_value(r); };
    scheduler_.submit(std::move(req));
    const engine::GenerationResult r = done.get_future().get();
    if (r.finish_reason == engine::FinishReason::Error) throw std::runtime_error("generation failed: " + r.error);
    return content;
  }

 private:
  model::Model model_;
  tokenizer::Tokenizer tokenizer_;
  std::optional<engine::ChatPrompt> prompt_;
  engine::Scheduler scheduler_;
  FILE* reasoning_to_;
  int max_tokens_;
  double temperature_;
};

// The sources the answer cites; all retrieved ones (so labelled) when it cites none.
void print_sources(const std::string& answer, const std::vector<kb::Source>& sources) {
  if (answer.find(kb::kNoAnswer) != std::string::npos) return;
  std::vector<int> shown = kb::cited_sources(answer, sources.size());
  std::printf(shown.empty() ? "\n\nSources (retrieved; the answer cites none):\n" : "\n\nSources:\n");
  if (shown.empty())
    for (const kb::Source& s : sources) shown.push_back(s.number);
  for (int n : shown) {
    const kb::Source& s = sources[size_t(n - 1)];
    std::printf("[%d] %s%s — %s\n", s.number, kb::heading_trail(s.title, s.headings).c_str(), s.linked ? " (linked)" : "",
                s.path.c_str());
  }
}

void ask(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const kb::KbInfo info = store.get(o.name);
  ChatModel chat(o);
  const kb::SearchQuery query = make_query(info, o, o.query);
  const auto count = [&chat](std::string_view t) { return chat.count_tokens(t); };
  const std::vector<kb::Source> sources =
      kb::retrieve_sources(store, o.name, query, !o.no_links, o.context_tokens, count);
  if (sources.empty()) {
    std::printf("%s\n", std::string(kb::kNoAnswer).c_str());
    return;
  }
  const std::string answer = chat.answer(kb::build_rag_prompt(o.query, sources).messages, stdout);
  print_sources(answer, sources);
}

void summarize(const KbOptions& o) {
  kb::KnowledgeStore store = open_store(o);
  const auto doc = store.find_document(o.name, o.note);
  if (!doc) throw std::runtime_error("no note '" + o.note + "' in knowledge base '" + o.name + "'");
  ChatModel chat(o);
  const auto count = [&chat](std::string_view t) { return chat.count_tokens(t); };
  // A piece, its prompt and the summary must fit the context together.
  const int64_t room = chat.context() - o.max_tokens - 256;
  if (room < 64) throw std::runtime_error("the chat model's context is too small for --max-tokens " + std::to_string(o.max_tokens));
  const std::vector<std::string> pieces = kb::summary_pieces(store.chunks(o.name, doc->id), size_t(room), count);
  if (pieces.empty()) throw std::runtime_error("note '" + doc->title + "' has no text");
  if (pieces.size() == 1) {
    chat.answer(kb::summary_messages(doc->title, pieces[0], false), stdout);
  } else {
    std::string joined;
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::fprintf(stderr, "[summarising part %zu of %zu]\n", i + 1, pieces.size());
      joined += "Part " + std::to_string(i + 1) + ": " + chat.answer(kb::summary_messages(doc->title, pieces[i], false), nullptr) + "\n\n";
    }
    chat.answer(kb::summary_messages(doc->title, joined, true), stdout);
  }
  std::printf("\n");
}

void add_chat_flags(CLI::App* cmd, KbOptions& o) {
  cmd->add_option("-m,--model", o.chat_model, "Chat model (GGUF with a chat template)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Most tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--temp", o.temperature, "Temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--reasoning", o.reasoning, "Where a reasoning model's thinking goes")
      ->check(CLI::IsMember({"stderr", "stdout", "hide"}))->capture_default_str();
}

}  // namespace

void register_kb_answers(CLI::App* kb, std::shared_ptr<KbOptions> o) {
  auto* a = add_kb_subcommand(kb, "ask", "Answer a question from the notes, citing them", *o);
  a->add_option("question", o->query, "The question")->required();
  add_chat_flags(a, *o);
  add_search_flags(a, *o);
  a->add_option("--context-tokens", o->context_tokens, "Most tokens of sources in the prompt")->capture_default_str();
  a->add_flag("--no-links", o->no_links, "Do not pull in notes linked from the best matches");
  a->callback([o] { ask(*o); });

  auto* s = add_kb_subcommand(kb, "summarize", "Summarise one note (long notes in pieces)", *o);
  s->add_option("note", o->note, "Note (path, title, file name or alias)")->required();
  add_chat_flags(s, *o);
  s->add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  s->callback([o] { summarize(*o); });
}

}  // namespace inhouse::cli
