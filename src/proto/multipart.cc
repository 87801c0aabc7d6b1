#include "proto/multipart.h"

namespace bale::proto {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Finds `name=value` or `name="value"` among ';'-separated parameters.
bool Param(std::string_view params, std::string_view name, std::string* value) {
  size_t i = 0;
  while (i < params.size()) {
    size_t key_start = i;
    while (i < params.size() && params[i] != '=' && params[i] != ';') i++;
    std::string_view key = Trim(params.substr(key_start, i - key_start));
    std::string v;
    if (i < params.size() && params[i] == '=') {
      i++;
      while (i < params.size() && params[i] == ' ') i++;
      if (i < params.size() && params[i] == '"') {
        for (i++; i < params.size() && params[i] != '"'; i++) {
          if (params[i] == '\\' && i + 1 < params.size()) i++;
          v.push_back(params[i]);
        }
        if (i >= params.size()) return false;  // unterminated quote
        i++;
      } else {
        size_t value_start = i;
        while (i < params.size() && params[i] != ';') i++;
        v = std::string(Trim(params.substr(value_start, i - value_start)));
      }
      if (EqualsNoCase(key, name)) {
        *value = std::move(v);
        return true;
      }
    }
    while (i < params.size() && params[i] != ';') i++;
    i++;  // past the ';'
  }
  return false;
}

Status ParsePartHeaders(std::string_view headers, MultipartPart* part) {
  bool disposition = false;
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers.remove_prefix(eol == std::string_view::npos ? headers.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Status::InvalidArgument("bad part header");
    std::string_view name = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (EqualsNoCase(name, "content-disposition")) {
      disposition = true;
      (void)Param(value, "name", &part->name);
      (void)Param(value, "filename", &part->filename);
    } else if (EqualsNoCase(name, "content-type")) {
      part->content_type = std::string(value);
    }
  }
  if (!disposition) return Status::InvalidArgument("part without Content-Disposition");
  return Status::OK();
}

}  // namespace

bool MultipartBoundary(std::string_view content_type, std::string* boundary) {
  size_t semi = content_type.find(';');
  if (!EqualsNoCase(Trim(content_type.substr(0, semi)), "multipart/form-data")) return false;
  if (semi == std::string_view::npos) return false;
  if (!Param(content_type.substr(semi + 1), "boundary", boundary)) return false;
  return !boundary->empty() && boundary->size() <= 70;
}

Status ParseMultipart(std::string_view body, std::string_view boundary,
                      std::vector<MultipartPart>* parts) {
  parts->clear();
  std::string delimiter = "--" + std::string(boundary);
  // The first delimiter may follow a preamble; every later one follows a CRLF.
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = delimiter.size();
  } else {
    size_t found = body.find("\r\n" + delimiter);
    if (found == std::string_view::npos) return Status::InvalidArgument("no multipart boundary");
    pos = found + 2 + delimiter.size();
  }
  std::string next = "\r\n" + delimiter;
  for (;;) {
    if (body.substr(pos, 2) == "--") return Status::OK();  // the close delimiter
    // Transport padding, then CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) pos++;
    if (body.substr(pos, 2) != "\r\n") return Status::InvalidArgument("bad multipart delimiter");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    std::string_view headers;
    size_t content;
    if (body.substr(pos, 2) == "\r\n") {  // no headers at all
      content = pos + 2;
    } else {
      if (headers_end == std::string_view::npos) {
        return Status::InvalidArgument("multipart part headers do not end");
      }
      headers = body.substr(pos, headers_end - pos);
      content = headers_end + 4;
    }
    MultipartPart part;
    BALE_RETURN_IF_ERROR(ParsePartHeaders(headers, &part));
    size_t end = body.find(next, content);
    if (end == std::string_view::npos) return Status::InvalidArgument("multipart body not closed");
    part.body = body.substr(content, end - content);
    parts->push_back(std::move(part));
    pos = end + next.size();
  }
}

}  // namespace bale::proto
