"""Warehouse views for BI tools (Power BI, Grafana, SQL clients): the star schema joined and
rolled up so a report needs no join logic. Re-created by every batch run (in one transaction) and
readable by the reader role. Documented in warehouse/bi/README.md.
"""

from __future__ import annotations

from psycopg import sql

from globalmart.core.settings import Settings
from globalmart.warehouse import pg

#: name -> (description, SELECT)
VIEWS: dict[str, tuple[str, str]] = {
    "bi_sales": (
        "Order lines with their date, customer, product, category and country attributes.",
        """
        SELECT f.transaction_id, f.line_number, d.full_date, d.year, d.quarter, d.month,
               d.month_name, d.week_of_year, d.day_name, d.is_weekend, t.hour, t.day_period,
               f.event_time, f.country, g.country_name, g.region, f.payment_method,
               c.user_id, c.age_group, c.gender, c.loyalty_tier, c.city,
               p.product_id, p.name AS product_name, p.brand,
               k.category_id, k.name AS category_name, k.department,
               f.quantity, f.unit_price, f.line_amount
        FROM fact_sales f
        JOIN dim_date d ON d.date_key = f.date_key
        JOIN dim_time t ON t.time_key = f.time_key
        JOIN dim_customer c ON c.customer_key = f.customer_key
        JOIN dim_product p ON p.product_key = f.product_key
        JOIN dim_category k ON k.category_key = f.category_key
        LEFT JOIN dim_geography g ON g.country = f.country
        """,
    ),
    "bi_daily_kpis": (
        "Per day: revenue, orders, units, buying customers and average order value.",
        """
        SELECT d.full_date, sum(f.line_amount) AS revenue,
               count(DISTINCT f.transaction_id) AS order_count, sum(f.quantity) AS units_sold,
               count(DISTINCT c.user_id) AS customer_count,
               round(sum(f.line_amount) / NULLIF(count(DISTINCT f.transaction_id), 0), 2)
                   AS avg_order_value
        FROM fact_sales f
        JOIN dim_date d ON d.date_key = f.date_key
        JOIN dim_customer c ON c.customer_key = f.customer_key
        GROUP BY d.full_date
        """,
    ),
    "bi_sales_weekly": (
        "Weekly (ISO, from Monday) sales per country and category with week-over-week growth "
        "and a 4-week moving average of revenue (table sales_history).",
        """
        SELECT period_start AS week_start, as_of_date, country, category_id, order_count,
               units_sold, revenue, avg_order_value, revenue_growth_pct,
               revenue_moving_avg AS revenue_4w_avg
        FROM sales_history WHERE period = 'week'
        """,
    ),
    "bi_sales_monthly": (
        "Monthly sales per country and category with month-over-month growth and a 3-month "
        "moving average of revenue (table sales_history).",
        """
        SELECT period_start AS month_start, as_of_date, country, category_id, order_count,
               units_sold, revenue, avg_order_value, revenue_growth_pct,
               revenue_moving_avg AS revenue_3m_avg
        FROM sales_history WHERE period = 'month'
        """,
    ),
    "bi_rfm_latest": (
        "Each customer's latest RFM scores and segment, with customer attributes.",
        """
        SELECT r.*, c.age_group, c.country, c.loyalty_tier
        FROM rfm_segments r
        JOIN dim_customer c ON c.customer_key = r.customer_key
        WHERE r.as_of_date = (SELECT max(as_of_date) FROM rfm_segments)
        """,
    ),
    "bi_rfm_segment_summary": (
        "Customers, spend and average scores per RFM segment and as-of date.",
        """
        SELECT as_of_date, segment, count(*) AS customer_count, sum(monetary) AS monetary,
               round(avg(recency_days), 1) AS avg_recency_days,
               round(avg(frequency), 2) AS avg_frequency
        FROM rfm_segments GROUP BY as_of_date, segment
        """,
    ),
    "bi_product_performance_latest": (
        "The latest product performance with product and category names.",
        """
        SELECT pp.*, p.name AS product_name, p.brand, k.name AS category_name
        FROM product_performance pp
        LEFT JOIN dim_product p ON p.product_key = pp.product_key
        LEFT JOIN dim_category k ON k.category_id = pp.category_id AND k.is_current
        WHERE pp.as_of_date = (SELECT max(as_of_date) FROM product_performance)
        """,
    ),
    "bi_funnel_daily": (
        "Per day and country: product views, cart adds, purchases and conversion.",
        """
        SELECT d.full_date, s.country, sum(s.view_count) AS view_count,
               sum(s.cart_add_count) AS cart_add_count,
               sum(s.transaction_count) AS purchase_count, sum(s.revenue) AS revenue,
               round(sum(s.transaction_count)::numeric / NULLIF(sum(s.view_count), 0), 4)
                   AS view_to_purchase_rate
        FROM fact_daily_product_snapshot s
        JOIN dim_date d ON d.date_key = s.date_key
        GROUP BY d.full_date, s.country
        """,
    ),
}


def create_views(settings: Settings, schema: str = pg.PUBLIC) -> list[str]:
    with pg.connect(settings, schema) as conn:
        for name, (doc, select) in VIEWS.items():
            # Drop first: CREATE OR REPLACE cannot reorder the columns of a `*` that grew.
            conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE VIEW {} AS ").format(sql.Identifier(name))
                + sql.SQL(select.strip())  # type: ignore[arg-type]
            )
            conn.execute(
                sql.SQL("COMMENT ON VIEW {} IS {}").format(sql.Identifier(name), sql.Literal(doc))
            )
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(name), sql.Identifier(settings.postgres_reader_user)
                )
            )
    return list(VIEWS)
