// README.md's short example is this package, so that it is built, run and cannot rot: each file
// must appear in README.md as a fenced block whose first line is the comment naming the file
// (BUILD: down to the line before this test's comment), and the binary must print what the
// README says it prints.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/run_example.h"

namespace {

std::string ReadRunfile(const std::string& path) {
  std::ifstream in(absl::StrCat(getenv("TEST_SRCDIR"), "/typed_channel/", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fenced block of `markdown` whose first line is "# <path>" or "// <path>", with a final
// newline; empty if there is none.
std::string BlockNaming(const std::string& markdown, const std::string& path) {
  std::string block;
  bool inside = false, found = false, first = false;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    if (absl::StartsWith(line, "```")) {
      if (inside && found) return block;
      inside = !inside;
      first = true;
      continue;
    }
    if (inside && first) {
      first = false;
      found = line == absl::StrCat("# ", path) || line == absl::StrCat("// ", path);
    }
    if (inside && found) absl::StrAppend(&block, line, "\n");
  }
  return "";
}

TEST(ReadmeTest, TheReadmeShowsThisPackagesFiles) {
  const std::string readme = ReadRunfile("README.md");
  for (const char* file : {"examples/crawl/jobs.capnp", "examples/crawl/crawl.cc"}) {
    EXPECT_EQ(BlockNaming(readme, file), ReadRunfile(file))
        << "README.md's copy of " << file << " differs from the file: update one from the other";
  }
  std::string build = ReadRunfile("examples/crawl/BUILD");
  build = build.substr(0, build.find("\n\n# Not in the README") + 1);
  EXPECT_EQ(BlockNaming(readme, "examples/crawl/BUILD"), build)
      << "README.md's copy of examples/crawl/BUILD differs from the file";
}

TEST(ReadmeTest, TheExamplePrintsWhatTheReadmeSays) {
  const examples::Result run = examples::RunExample("crawl/crawl", {});
  examples::ExpectCleanExit(run);
  for (const char* id : {"0", "250", "500", "750"}) {
    EXPECT_EQ(examples::CountLinesWith(run, absl::StrCat(": fetched https://example.com/", id)),
              1)
        << run.out;
  }
  ASSERT_FALSE(run.lines.empty());
  const std::string last = "main: put 1000 jobs; the worker marked every one done";
  EXPECT_EQ(run.lines.back(), last) << run.out;
  EXPECT_NE(ReadRunfile("README.md").find(absl::StrCat("`", last, "`")), std::string::npos)
      << "the README quotes the last line";
}

}  // namespace
