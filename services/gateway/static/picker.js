/* Chọn nơi nhận in place, on the compose form (templates/compose.html).
   Without this script the form's "Chọn từ danh mục" button opens the picker
   page, which does the same with plain forms. This one asks the same
   listing as JSON (/web/directory/json, the session's cookie) and writes the
   chosen codes into the recipients field; it adds nothing else to the page's
   powers (no inline code: the Content-Security-Policy allows 'self' only). */
(function () {
  "use strict";
  var field = document.getElementById("recipients");
  var panel = document.getElementById("picker");
  if (!field || !panel || !window.fetch || !window.URLSearchParams) { return; }
  var words = panel.dataset;
  var input = document.getElementById("picker-q");
  var list = document.getElementById("picker-list");
  var where = document.getElementById("picker-where");
  var status = document.getElementById("picker-status");
  var asked = {q: "", parent: "", page: 1};
  var timer = null;

  function codes() {
    return field.value.split(/[\s,;]+/).filter(function (c) { return c; });
  }

  function add(more) {
    var now = codes();
    var added = 0;
    more.forEach(function (code) {
      if (now.indexOf(code) < 0) { now.push(code); added += 1; }
    });
    field.value = now.join("\n");
    status.textContent = words.added.replace("{count}", added);
  }

  function button(text, onclick, cls) {
    var b = document.createElement("button");
    b.type = "button";  // never submits the compose form
    b.textContent = text;
    if (cls) { b.className = cls; }
    b.addEventListener("click", onclick);
    return b;
  }

  function get(params) {
    return fetch("/web/directory/json?" + new URLSearchParams(params).toString(), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    }).then(function (answer) {
      if (!answer.ok) { throw new Error(answer.status); }
      return answer.json();
    });
  }

  function row(agency) {
    var li = document.createElement("li");
    var label = document.createElement("span");
    label.textContent = agency.name + " (" + agency.code + ")";
    li.appendChild(label);
    li.appendChild(button(words.add, function () { add([agency.code]); }));
    if (agency.has_children) {
      li.appendChild(button(words.children, function () {
        show({q: "", parent: agency.code, page: 1});
      }, "secondary"));
      li.appendChild(button(words.subtree, function () {
        get({subtree: agency.code}).then(function (found) { add(found.recipients); },
                                          failed);
      }, "secondary"));
    }
    return li;
  }

  function failed() { status.textContent = words.failed; }

  function show(params) {
    asked = params;
    get(params).then(function (listing) {
      if (params.page === 1) { list.textContent = ""; }
      var old = list.querySelector(".picker-more");
      if (old) { old.remove(); }
      where.textContent = "";
      if (params.parent) {
        where.appendChild(button(words.roots, function () {
          show({q: input.value, parent: "", page: 1});
        }, "secondary"));
        where.appendChild(document.createTextNode(
          " › " + (listing.names[params.parent] || params.parent)));
      }
      if (params.page === 1 && !params.q && !params.parent) {
        listing.groups.forEach(function (group) {
          var li = document.createElement("li");
          li.appendChild(button(group.name + " (" + group.recipients.length + ")",
                                function () { add(group.recipients); }));
          list.appendChild(li);
        });
      }
      listing.items.forEach(function (agency) { list.appendChild(row(agency)); });
      if (!listing.items.length && params.page === 1) { status.textContent = words.none; }
      if (params.page * listing.size < listing.total) {
        var li = document.createElement("li");
        li.className = "picker-more";
        li.appendChild(button(words.more, function () {
          show({q: params.q, parent: params.parent, page: params.page + 1});
        }, "secondary"));
        list.appendChild(li);
      }
    }, failed);
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      show({q: input.value.trim(), parent: asked.parent, page: 1});
    }, 250);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); }  // not the compose form's submit
  });
  panel.hidden = false;
  show(asked);
}());
