// The annotator's earnings over the last days: earned (credited to pending) as bars and
// released (pending → available) as a line. Chart.js comes from /static/vendor as a classic script.
const { Chart } = window;
const canvas = document.getElementById("earnings-chart");
const data = JSON.parse(document.getElementById("earnings-data").textContent);

const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

if (Chart && canvas) {
  new Chart(canvas, {
    data: {
      labels: data.labels.map((d) => d.slice(5)), // MM-DD
      datasets: [
        { type: "bar", label: `Earned (${data.token})`, data: data.earned, backgroundColor: "#1f6feb" },
        { type: "line", label: `Released (${data.token})`, data: data.released, borderColor: "#1a7f37",
          backgroundColor: "#1a7f37", tension: 0.2, pointRadius: 2 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      ...(still ? { animation: false } : {}),
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxRotation: 0, autoSkip: true } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
}
