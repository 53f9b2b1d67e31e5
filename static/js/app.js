/* Optional enhancements; every page works without this file. No inline scripts (CSP script-src 'self'). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Upload progress: the <progress> inside the form that sent the request.
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = e.target.closest && e.target.closest("form");
    var bar = form && form.querySelector("progress");
    if (bar && e.detail && e.detail.lengthComputable && e.detail.total) {
      bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
    }
  });

  // A refused upload, estimate or identity reveal comes back as its fragment (the checklist, the estimate) with a
  // 4xx status and the reason in it: show it anyway.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && /data-fragment="(checklist|estimate|identity)"/.test(xhr.responseText || "")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Anything else that fails: say so instead of doing nothing.
  function failed(e) {
    var box = document.getElementById("alerts");
    if (!box) return;
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.setAttribute("role", "alert");
    div.textContent = status === 413 ? "上传的内容过大,请压缩后再上传。"
      : status ? "操作没有成功(错误代码 " + status + "),请刷新页面后重试。"
      : "网络连接失败,请检查网络后重试。";
    box.replaceChildren(div);
    box.scrollIntoView({ block: "start" });
  }
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);

  // ------------------------------------------------------------------ materials checklist

  // The checklist is replaced after every upload or removal, which would drop the keyboard focus on
  // <body>. Remember which material the request was about and put the focus back there: on its
  // error when the upload was refused, else on the material itself (read out with its new state).
  var lastMaterialKey = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var li = e.target.closest && e.target.closest("li.material[data-key]");
    lastMaterialKey = li ? li.getAttribute("data-key") : null;
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.target || e.target.id !== "materials" || !lastMaterialKey) return;
    var items = e.target.querySelectorAll("li.material[data-key]");
    var li = null;
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-key") === lastMaterialKey) { li = items[i]; break; }
    }
    lastMaterialKey = null;
    if (!li) return;
    var target = li.querySelector(".material-error") || li;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
    var r = target.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) target.scrollIntoView({ block: "center" });
  });

  // The files chosen in a form (both the 选择文件 and the 拍照 input of a file picker).
  function chosenFiles(form) {
    var names = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      for (var i = 0; input.files && i < input.files.length; i++) names.push(input.files[i].name);
    });
    return names;
  }

  // The file picker says what was chosen, in Chinese (the browser's own text follows its language).
  function showChoice(picker, names) {
    var out = picker.querySelector("[data-file-name]");
    if (!out) return;
    out.textContent = !names.length ? "没有选择文件"
      : names.length === 1 ? "已选择:" + names[0] : "已选择 " + names.length + " 个文件:" + names.join("、");
    out.classList.toggle("chosen", names.length > 0);
  }

  // A file that was chosen but not uploaded is easy to miss (two steps: choose, then 上传).
  // Mark the form and say what to do; warn before submitting the application without it.
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input || input.type !== "file") return;
    var form = input.closest("form.upload");
    if (!form) return;
    var names = chosenFiles(form);
    var picker = input.closest("[data-file-picker]");
    if (picker) showChoice(picker, names);
    var note = form.querySelector(".pending-note");
    if (names.length) {
      form.classList.add("pending");
      if (!note) {
        note = document.createElement("p");
        note.className = "pending-note";
        note.setAttribute("aria-live", "polite");
        form.appendChild(note);
      }
      var chosen = names.length > 1 ? " " + names.length + " 个文件" : "「" + names[0] + "」";
      var button = form.querySelector("button[type=submit]");
      note.textContent = "已选择" + chosen + ",还没有上传:请点「" + (button ? button.textContent.trim() : "上传") + "」。";
    } else {
      form.classList.remove("pending");
      if (note) note.remove();
    }
  });
  // Nothing chosen: say so in Chinese here instead of sending an empty form (the server says the same).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains("upload") || chosenFiles(form).length) return;
    var picker = form.querySelector("[data-file-picker]");
    if (!picker) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    var out = picker.querySelector("[data-file-name]");
    if (out) { out.textContent = "请先点「选择文件」或「拍照」选择要上传的文件。"; out.classList.add("chosen"); }
    var first = picker.querySelector(".file-input");
    if (first) first.focus();
  }, true);
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.action || !/\/submit$/.test(form.action)) return;
    var pending = document.querySelectorAll("form.upload.pending");
    if (!pending.length) return;
    var ok = window.confirm("有 " + pending.length + " 份已选择的文件还没有点「上传」,提交时不会包含它们。\n\n点「确定」仍然提交;点「取消」返回去上传。");
    if (!ok) {
      e.preventDefault();
      var button = pending[0].querySelector("button[type=submit]");
      if (button) { button.scrollIntoView({ block: "center" }); button.focus(); }
    }
  });

  // ------------------------------------------------------------------ disease list filter

  // 新申请 lists every disease of the year's catalogue (often 20–40). A box to type part of a name.
  function setUpDiseaseFilter(root) {
    var box = root.querySelector("[data-filter-box]");
    var input = root.querySelector("[data-filter-input]");
    var empty = root.querySelector("[data-filter-empty]");
    if (!box || !input) return;
    box.hidden = false;
    input.addEventListener("input", function () {
      var words = input.value.replace(/\s+/g, "");
      var shown = 0;
      root.querySelectorAll("[data-filter-group]").forEach(function (group) {
        var inGroup = 0;
        var category = group.getAttribute("data-category") || "";
        var groupMatch = !!words && category.indexOf(words) !== -1; // e.g. 肾脏 shows the whole group
        group.querySelectorAll("[data-filter-item]").forEach(function (item) {
          var name = item.getAttribute("data-name") || "";
          var checked = item.querySelector("input:checked");
          var match = !words || groupMatch || name.indexOf(words) !== -1 || !!checked; // chosen ones stay visible
          item.hidden = !match;
          if (match) inGroup++;
        });
        group.hidden = inGroup === 0;
        shown += inGroup;
      });
      if (empty) empty.hidden = shown !== 0;
    });
    // Keep Enter in the search box from submitting the whole application form.
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") e.preventDefault();
    });
  }

  // Near the submit button, repeat which diseases are ticked (the list is long on a phone).
  function setUpSelectedSummary(form) {
    var out = form.querySelector("[data-selected-summary]");
    if (!out) return;
    function update() {
      var names = [];
      form.querySelectorAll("[data-filter-item] input:checked").forEach(function (input) {
        names.push(input.closest("[data-filter-item]").getAttribute("data-name"));
      });
      out.hidden = false;
      out.textContent = names.length ? "已选择 " + names.length + " 个病种:" + names.join("、") : "还没有选择病种。";
    }
    form.addEventListener("change", function (e) {
      if (e.target && e.target.name === "diseases") update();
    });
    update();
  }

  // ------------------------------------------------------------------ page load

  function onLoad() {
    document.querySelectorAll("[data-disease-filter]").forEach(setUpDiseaseFilter);
    document.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("[data-selected-summary]")) setUpSelectedSummary(form);
    });
    // A page re-shown with errors: move to the error message (it lists every problem), or else to
    // the first field marked invalid. Not when the page itself chose a field (autofocus).
    if (!document.querySelector("[autofocus]")) {
      var alert = document.querySelector("#alerts .alert-error");
      var invalid = document.querySelector("main [aria-invalid='true']");
      if (alert) {
        alert.setAttribute("tabindex", "-1");
        alert.focus();
      } else if (invalid) {
        invalid.focus();
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onLoad);
  else onLoad();

  // Print buttons (e.g. the audit anchors): without this file the browser's own print does the same.
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });
})();
