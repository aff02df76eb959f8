// Collapsible team tree in a table: rows carry data-path; a parent's button hides or shows its
// descendants. Without JavaScript every row stays visible and the buttons stay hidden.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll(".tree-table")) {
    const rows = [...table.querySelectorAll("tbody tr[data-path]")];
    const collapsed = new Set();
    const refresh = () => {
      for (const row of rows) {
        const path = row.dataset.path;
        row.hidden = [...collapsed].some((p) => path.startsWith(p + "/"));
      }
    };
    for (const button of table.querySelectorAll("button.toggle")) {
      const path = button.closest("tr").dataset.path;
      button.hidden = false;
      button.addEventListener("click", () => {
        const open = button.getAttribute("aria-expanded") === "true";
        button.setAttribute("aria-expanded", String(!open));
        if (open) collapsed.add(path); else collapsed.delete(path);
        refresh();
      });
    }
  }
});
