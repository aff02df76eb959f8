// Keyboard users get what a mouse gets from a point's tooltip: focusing a point (Tab) writes its
// value, or the reason it is hidden, under the chart.
document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("figure.chart")) {
    const caption = figure.querySelector(".focused");
    for (const mark of figure.querySelectorAll("g[tabindex]")) {
      const show = () => { caption.textContent = mark.getAttribute("aria-label"); };
      mark.addEventListener("focus", show);
      mark.addEventListener("mouseenter", show);
    }
  }
});
