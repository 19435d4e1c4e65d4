"""The HTTP connection the service is served over: uvicorn's, answering a request it
cannot parse as problem+json like every other refusal.

uvicorn's parser (httptools, and h11 alike) refuses a request line that is not ASCII,
such as a query with raw, unencoded Chinese (``?flag=优秀共产党员`` sent as UTF-8 bytes),
before the application sees it, and answers with plain text. A client of this API reads
every error as a problem; this protocol keeps that true for these too.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.problems import PROBLEM_MEDIA_TYPE, malformed_request, problem_document


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        detail = "the request cannot be parsed as HTTP; a URL must be percent-encoded (RFC 3986), so is its query"
        body = json.dumps(problem_document(malformed_request(detail)), ensure_ascii=False).encode()
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
