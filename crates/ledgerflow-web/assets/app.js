// LedgerFlow's small script: everything works without it; it adds "select all" for the bulk
// category change and asks before destructive forms. (Inline scripts are blocked by the CSP.)
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll('input[name="ids"]').forEach((c) => { c.checked = all.checked; });
    });
  }
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });
});
