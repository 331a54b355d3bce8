// The requester's spending per job as a stacked bar chart (Chart.js from /static/vendor, loaded
// before this module as a classic script). Data comes from the page's JSON block.
const { Chart } = window;
const canvas = document.getElementById("spending-chart");
const data = JSON.parse(document.getElementById("spending-data").textContent);

const COLORS = {
  rewards: "#1f6feb",
  fees: "#6e7781",
  topups: "#9a6700",
  bonuses: "#1a7f37",
  refunds: "#8250df",
  escrow_left: "#afb8c1",
};

const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

if (Chart && canvas) {
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.series.map((s) => ({
        label: s.label,
        data: s.data,
        backgroundColor: COLORS[s.key] ?? "#57606a",
        stack: "money",
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      ...(still ? { animation: false } : {}),
      indexAxis: data.labels.length > 6 ? "y" : "x",
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true },
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.formattedValue} ${data.token}` } },
      },
    },
  });
}
