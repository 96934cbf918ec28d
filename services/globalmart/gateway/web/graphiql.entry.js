// GraphiQL for the GlobalMart gateway, bundled by esbuild into dist/graphiql.js (+ .css).
import React from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import "graphiql/style.css";

const root = document.getElementById("graphiql");
const fetcher = createGraphiQLFetcher({ url: root.dataset.endpoint || "/graphql" });
const defaultQuery = `# Every table is a field; relations are batched. Try:
{
  trending_products(first: 5) {
    items {
      product_id
      view_count
      product_performance { revenue revenue_rank }
    }
    next_cursor
  }
}
`;
createRoot(root).render(React.createElement(GraphiQL, { fetcher, defaultQuery }));
