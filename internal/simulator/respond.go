package simulator

import (
	"encoding/json"
	"net/http"
)

// answer is a response built by a route before faults and rate-limit
// headers are applied to it.
type answer struct {
	status int
	body   []byte
	header http.Header
}

func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		return internalError()
	}
	return answer{status: status, body: b}
}

func rawAnswer(status int, body string) answer {
	return answer{status: status, body: []byte(body)}
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// rpcFailure is the JSON-RPC error envelope of the registry's handlers.
func rpcFailure(status, code int, message string, data any) answer {
	return jsonAnswer(status, struct {
		ID      int      `json:"id"`
		JSONRPC string   `json:"jsonrpc"`
		Error   rpcError `json:"error"`
	}{1, "2.0", rpcError{code, message, data}})
}

func rpcResult(status int, result any) answer {
	return jsonAnswer(status, struct {
		ID      int    `json:"id"`
		JSONRPC string `json:"jsonrpc"`
		Result  any    `json:"result"`
	}{1, "2.0", result})
}

func rpcData(status int, data any) answer {
	return rpcResult(status, struct {
		Meta any `json:"meta"`
		Data any `json:"data"`
	}{nil, data})
}

func invalidParams(detail string) answer {
	// The servers' validator puts jsonrpc first; rpcFailure's order is
	// the handlers'.
	return jsonAnswer(http.StatusBadRequest, struct {
		JSONRPC string   `json:"jsonrpc"`
		ID      int      `json:"id"`
		Error   rpcError `json:"error"`
	}{"2.0", 1, rpcError{-32602, "Invalid params", detail}})
}

// Fixed bodies as the servers send them (docs/registry.md, "Errors").
const (
	bodyUnauthorized = `{"id":1,"error":{"code":-32501,"data":"Unauthorized application","message":"Unauthorized Error"},"jsonrpc":"2.0"}`
	// bodyInvalidKeyPair is the token route's answer to a wrong access or
	// secret key (docs/registry.md, Authentication).
	bodyInvalidKeyPair = `{"id":1,"error":{"code":-32501,"data":"Invalid access key or secret key","message":"Unauthorized Error"},"jsonrpc":"2.0"}`
	bodyExpired        = `{"error":{"code":401,"data":"Error","message":"Unauthorized Error"},"id":1,"jsonrpc":"2.0"}`
	bodyForbidden      = `{"id":1,"error":{"code":-32503,"data":"Invalid permissions","message":"Forbidden Error"},"jsonrpc":"2.0"}`
	bodyNotFound       = `{"id":1,"jsonrpc":"2.0","error":{"code":-32504,"message":"Not found"}}`
	bodyNotFoundOld    = `{"code":404,"error":"Not found"}`
	bodyInternal       = `{"id":1,"jsonrpc":"2.0","error":{"code":-32603,"message":"Internal Error"}}`
	bodyListExpired    = `{"id":1,"jsonrpc":"2.0","error":{"code":-32603,"message":"Cannot read properties of undefined (reading 'length')"}}`
	bodyTooMany        = `{"error":{"code":429,"message":"Too many requests"}}`
	bodyMaintenance    = `{"code":503,"error":"Service Unavailable"}`
	bodyTooLarge       = `{"code":413,"error":"Payload Too Large"}`
	// bodyCanceled is a cancel's success: registerExpressRoute wraps the
	// handler's undefined result, which JSON leaves out.
	bodyCanceled      = `{"jsonrpc":"2.0","id":1}`
	bodyV2Unauthorize = `{"id":1,"jsonrpc":"2.0","error":{"code":-32501,"message":"Unauthorized"}}`
	bodyV2Forbidden   = `{"id":1,"jsonrpc":"2.0","error":{"code":-32503,"message":"Forbidden"}}`
)

func internalError() answer { return rawAnswer(http.StatusInternalServerError, bodyInternal) }
