"""The figures a scenario measured and the checks they must pass, printed as a table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Scenario:
    """One scenario's figures, in the order measured, and its failed checks."""

    name: str
    figures: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def figure(self, key: str, value: object) -> object:
        self.figures[key] = value
        print(f"  {self.name}: {key} = {value}", flush=True)
        return value

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
            print(f"  {self.name}: FAILED {what}", flush=True)
        return ok

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"scenario": self.name, "passed": self.passed, "figures": self.figures,
                "failures": self.failures}


def table(scenarios: list[Scenario]) -> str:
    lines = ["", "| scenario | result | figures |", "|---|---|---|"]
    for s in scenarios:
        figures = "; ".join(f"{k} {v}" for k, v in s.figures.items())
        result = "pass" if s.passed else "FAIL: " + "; ".join(s.failures)
        lines.append(f"| {s.name} | {result} | {figures} |")
    return "\n".join(lines)
