"""The outcome of a verification: one line per check, a summary, an exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class CheckResult:
    """One check: its status, its name and what was found (resource, field, expectation)."""

    status: Status
    check: str
    detail: str

    def line(self) -> str:
        return f"{self.status} {self.check} {self.detail}"


@dataclass
class Report:
    """Results in the order they were found."""

    title: str
    results: list[CheckResult] = field(default_factory=list)

    def passed(self, check: str, detail: str) -> None:
        self.results.append(CheckResult("PASS", check, detail))

    def failed(self, check: str, detail: str) -> None:
        self.results.append(CheckResult("FAIL", check, detail))

    def skipped(self, check: str, detail: str) -> None:
        self.results.append(CheckResult("SKIP", check, detail))

    def judge(self, check: str, prefix: str, problems: list[str], passed: str) -> None:
        """One FAIL per problem (each behind ``prefix``), or one PASS saying ``passed``."""
        for problem in problems:
            self.failed(check, f"{prefix}{problem}")
        if not problems:
            self.passed(check, passed)

    def extend(self, other: Report) -> None:
        self.results.extend(other.results)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    def failures(self, check: str | None = None) -> list[CheckResult]:
        return [
            r for r in self.results if r.status == "FAIL" and (check is None or r.check == check)
        ]

    @property
    def ok(self) -> bool:
        return self.count("FAIL") == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{self.title}: {verdict} - {self.count('PASS')} passed, "
            f"{self.count('FAIL')} failed, {self.count('SKIP')} skipped"
        )

    def lines(self) -> list[str]:
        return [result.line() for result in self.results]

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ok": self.ok,
            "passed": self.count("PASS"),
            "failed": self.count("FAIL"),
            "skipped": self.count("SKIP"),
            "checks": [asdict(result) for result in self.results],
        }
