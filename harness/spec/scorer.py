"""A scorer as a suite writes it: its type and arguments, its name and metric, threshold, weight, negation,
turn and transform; or a group of scorers (any/all)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness.spec._base import Strict


def _as_steps(value: Any) -> Any:
    """``transform: strip`` is a list of one step; nothing (null) is no step."""
    steps = [] if value is None else value if isinstance(value, list) else [value]
    for step in steps:
        if not isinstance(step, str | dict):
            raise ValueError(f"a transform step is a name (such as strip) or a mapping (such as {{json_path: $.a}}), "
                             f"not {step!r}")
    return steps


# An output transform as the suite writes it: steps applied in order, each a name (``strip``) or a one-key mapping
# (``{json_path: $.a}``). Their names and arguments are checked, and compiled, when the suite loads
# (harness.scorers.transforms); here they stay as written, so that a suite dumped and read back is the same.
Transforms = Annotated[list[str | dict[str, Any]], BeforeValidator(_as_steps)]

OWN_SCORER_KEYS = ("type", "name", "metric", "threshold", "weight", "not", "negate", "turn", "transform", "any",
                   "all")
GROUPS = ("any", "all")


class ScorerSpec(Strict):
    """One scorer as the suite names it: ``label`` or ``{type: label, labels: [...], threshold: 0.5}``.

    Keys other than type/name/threshold/weight/not are the scorer's own arguments; they are
    checked against the scorer's signature at load. ``name`` is what its scores are reported (and
    thresholded) under, its type by default; ``metric`` is a named metric its scores count under as well,
    pooled with those of every other scorer that names it (see harness.scorers.names); ``not: true``
    negates the scorer; ``weight`` is its share of the trial's weighted score (0: reported, never decides
    the verdict).

    A group, ``{any: [scorer, ...]}`` or ``{all: [...]}``, is one scorer made of its members (full scorer specs,
    groups too): its type is ``any`` or ``all`` and it takes no arguments (see harness.scorers.groups).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: str
    # Its name as the suite wrote it (`name:`), else its type; the loader numbers a type used twice in a trial
    # (contains, contains_2: see harness.scorers.names). A scorer whose own argument is called `name`, as
    # tool_call's is (the tool), is named after it.
    name: str = ""
    # A named metric its scores count under as well as under its name, pooled with other scorers' (`metric: m`).
    metric: str = ""
    # The name: as the suite wrote it (set from name; not read from the suite as such).
    written_name: str | None = Field(default=None, exclude=True)
    threshold: float | None = Field(default=None, ge=0, le=1)
    weight: float = Field(default=1.0, ge=0)
    negate: bool = Field(default=False, alias="not")
    # Which of a conversation's answers it scores: the Nth (from 0), each ("all"), or (None) the last.
    turn: int | Literal["all"] | None = Field(default=None)
    # Applied to the output this scorer alone sees, after the trial's own transforms.
    transform: Transforms = Field(default_factory=list)
    arguments: dict[str, Any] = Field(default_factory=dict)
    # A group's members: it passes when any of them does, or all of them (see harness.scorers.groups).
    any: list[ScorerSpec] | None = None
    all: list[ScorerSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_args(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if isinstance(data, dict):
            own = {k: data[k] for k in OWN_SCORER_KEYS if k in data}
            rest = {k: v for k, v in data.items() if k not in own}
            group = next((key for key in GROUPS if key in data), None)
            if group and "type" not in own:
                own["type"] = group
            own["written_name"] = data["name"] if isinstance(data.get("name"), str) and data["name"] else None
            if set(rest) == {"arguments"} and isinstance(rest["arguments"], dict):  # already split (a dump)
                return {**own, "arguments": rest["arguments"]}
            return {**own, "arguments": rest}
        return data

    # pydantic may run a recursive model's after-validators twice on one instance: these must not mind.
    @model_validator(mode="after")
    def _default_name(self) -> ScorerSpec:
        if not self.name:
            object.__setattr__(self, "name", self.type)
        return self

    @field_validator("turn", mode="before")
    @classmethod
    def _turn_from_zero(cls, turn: Any) -> Any:
        wrong = isinstance(turn, bool) or not (turn is None or turn == "all" or isinstance(turn, int) and turn >= 0)
        if wrong:
            raise ValueError(f"turn counts a conversation's answers from 0 (or is 'all'), not {turn!r}")
        return turn

    @model_validator(mode="after")
    def _one_group(self) -> ScorerSpec:
        given = [key for key in GROUPS if getattr(self, key) is not None]
        if len(given) > 1:
            raise ValueError("a group is either 'any' or 'all', not both: nest one in the other")
        if given and self.type != given[0]:
            raise ValueError(f"a group ({given[0]}: [...]) has no type: its members have theirs")
        if given and not self.members:
            raise PydanticCustomError("group", "a group needs at least one scorer in its list", {"key": given[0]})
        return self

    @property
    def group(self) -> str | None:
        """``any`` or ``all`` for a group, None for a scorer."""
        return self.type if self.any is not None or self.all is not None else None

    @property
    def members(self) -> list[ScorerSpec]:
        return self.any or self.all or []

    def leaves(self) -> list[ScorerSpec]:
        """The scorers it runs: itself, or its members' leaves (a group's groups included)."""
        return [leaf for member in self.members for leaf in member.leaves()] if self.group else [self]


