"""Query cost limit: a validation rule that refuses documents whose worst-case work is too big.

Cost model: every object field costs 1 (scalars are free), multiplied by the page sizes of the
list fields above it. A table field's page size is its `first` argument (default 50; a variable
counts as the maximum, 1000, since validation cannot see variable values). So
`trending_products(first: 100) { items { product_performance { revenue } } }` costs
1 + 100 * (1 + 1) = 201. Depth, tokens and aliases are limited by Strawberry's own extensions.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from globalmart.gateway.query import MAX_LIMIT

DEFAULT_FIRST = 50
PAGE_ARGUMENT = "first"


def _page_size(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value == PAGE_ARGUMENT:
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return MAX_LIMIT
    return DEFAULT_FIRST


def selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.selection_set is None:
                continue
            inner = selection_cost(selection.selection_set, fragments, seen)
            is_page = any(a.name.value == PAGE_ARGUMENT for a in selection.arguments or ()) or (
                selection.name.value != "items" and _has_items(selection.selection_set)
            )
            total += 1 + (_page_size(selection) * inner if is_page else inner)
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                continue  # cycles are reported by graphql's own NoFragmentCycles rule
            total += selection_cost(fragments[name].selection_set, fragments, seen | {name})
    return total


def _has_items(selection_set: SelectionSetNode) -> bool:
    return any(
        isinstance(s, FieldNode) and s.name.value == "items" for s in selection_set.selections
    )


def document_cost(context: ValidationContext) -> int:
    document = context.document
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return max(
        (
            selection_cost(d.selection_set, fragments)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        ),
        default=0,
    )


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            cost = document_cost(context)
            if cost > max_cost:
                context.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the limit {max_cost}: ask for smaller pages "
                        "(`first`) or fewer nested relations",
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": max_cost},
                    )
                )

    return CostLimit
