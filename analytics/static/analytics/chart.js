// Keyboard users get what a mouse gets from a point's tooltip: focusing a point writes its
// value, or the reason it is hidden, under the chart. A chart is a single tab stop (its latest
// point, as served); here the arrow keys, Home and End move between its points, the focused one
// taking the tab stop with it (a roving tabindex). Without JavaScript the table still lists all.
document.addEventListener("DOMContentLoaded", () => {
  for (const figure of document.querySelectorAll("figure.chart")) {
    const caption = figure.querySelector(".focused");
    const marks = [...figure.querySelectorAll("g[tabindex]")];
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    marks.forEach((mark, index) => {
      const show = () => { caption.textContent = mark.getAttribute("aria-label"); };
      mark.addEventListener("focus", show);
      mark.addEventListener("mouseenter", show);
      mark.addEventListener("keydown", (event) => {
        let to;
        if (event.key in moves) to = index + moves[event.key];
        else if (event.key === "Home") to = 0;
        else if (event.key === "End") to = marks.length - 1;
        else return;
        event.preventDefault();
        const next = marks[Math.max(0, Math.min(marks.length - 1, to))];
        for (const other of marks) other.setAttribute("tabindex", other === next ? "0" : "-1");
        next.focus();
      });
    });
  }
});
