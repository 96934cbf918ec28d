// Chart.js for the live dashboard (/dashboard), bundled into /static/vendor/charts.js.
// Only the pieces the dashboard draws are registered, which keeps the bundle small.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

window.Chart = Chart;
