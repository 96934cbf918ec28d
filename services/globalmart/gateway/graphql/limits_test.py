from __future__ import annotations

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from globalmart.gateway.graphql.limits import selection_cost


def _cost(text: str) -> int:
    document = parse(text)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return selection_cost(operation.selection_set, fragments)


def test_scalars_are_free_pages_multiply_relations() -> None:
    assert _cost("{ sales_per_minute(first: 10) { items { window_start } } }") == 1 + 10 * 1
    assert _cost(
        "{ trending_products(first: 100) { items { product_id product_performance { revenue } } } }"
    ) == 1 + 100 * (1 + 1)


def test_default_and_variable_page_sizes() -> None:
    assert _cost("{ alerts { items { title } } }") == 1 + 50
    assert _cost("query($n: Int!) { alerts(first: $n) { items { title } } }") == 1 + 1000


def test_fragments_count() -> None:
    text = """
    { trending_products(first: 10) { items { ...F } } }
    fragment F on trending_products {
      product_performance { revenue }
      product_sales_velocity { revenue }
    }
    """
    assert _cost(text) == 1 + 10 * (1 + 2)
