package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
)

// Sentinels for errors.Is on errors returned by the Client (all carried by *APIError).
var (
	ErrThrottling        = errors.New("keyspaces streams: throttled")
	ErrTrimmedDataAccess = errors.New("keyspaces streams: trimmed data access")
	ErrExpiredIterator   = errors.New("keyspaces streams: expired iterator")
	ErrExpiredNextToken  = errors.New("keyspaces streams: expired next token")
	ErrNotFound          = errors.New("keyspaces streams: resource not found")
	ErrAccessDenied      = errors.New("keyspaces streams: access denied")
	ErrValidation        = errors.New("keyspaces streams: validation error")
	ErrInternal          = errors.New("keyspaces streams: internal server error")
)

// Error types (the short name of __type) and ValidationException error codes.
const (
	TypeAccessDenied     = "AccessDeniedException"
	TypeInternalServer   = "InternalServerException"
	TypeResourceNotFound = "ResourceNotFoundException"
	TypeThrottling       = "ThrottlingException"
	TypeValidation       = "ValidationException"

	CodeInvalidFormat     = "InvalidFormat"
	CodeTrimmedDataAccess = "TrimmedDataAccess"
	CodeExpiredIterator   = "ExpiredIterator"
	CodeExpiredNextToken  = "ExpiredNextToken"
)

// APIError is an error answer of the service. It satisfies smithy.APIError, so the SDK's
// retryers classify it (throttling by Type, 5xx by StatusCode).
type APIError struct {
	StatusCode int
	Type       string // short name after '#', e.g. ThrottlingException
	Code       string // errorCode of a ValidationException, e.g. ExpiredIterator
	Message    string
	RequestID  string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("keyspaces streams: ")
	b.WriteString(e.Type)
	if e.Type == "" {
		b.WriteString("error")
	}
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	fmt.Fprintf(&b, " [HTTP %d", e.StatusCode)
	if e.RequestID != "" {
		b.WriteString(", request id " + e.RequestID)
	}
	b.WriteString("]")
	return b.String()
}

// ErrorCode is the error type name (smithy.APIError).
func (e *APIError) ErrorCode() string { return e.Type }

// ErrorMessage is the service's message (smithy.APIError).
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault says whether the client or the server is at fault (smithy.APIError).
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.StatusCode >= 500 || e.Type == TypeInternalServer {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// HTTPStatusCode lets retryers retry 5xx answers.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// Is matches the package's sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrThrottling:
		return e.Type == TypeThrottling || e.StatusCode == http.StatusTooManyRequests
	case ErrTrimmedDataAccess:
		return e.Code == CodeTrimmedDataAccess
	case ErrExpiredIterator:
		return e.Code == CodeExpiredIterator
	case ErrExpiredNextToken:
		return e.Code == CodeExpiredNextToken
	case ErrNotFound:
		return e.Type == TypeResourceNotFound
	case ErrAccessDenied:
		return e.Type == TypeAccessDenied
	case ErrValidation:
		return e.Type == TypeValidation
	case ErrInternal:
		return e.Type == TypeInternalServer || (e.Type == "" && e.StatusCode >= 500)
	}
	return false
}

// parseAPIError reads an AWS JSON 1.0 error answer. The type comes from the x-amzn-ErrorType
// header when present (it may carry a ":<url>" suffix), else from __type (or code); either
// may carry a namespace before '#'.
func parseAPIError(status int, h http.Header, body []byte) *APIError {
	var w struct {
		Type      string `json:"__type"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		MessageUC string `json:"Message"`
		ErrorCode string `json:"errorCode"`
	}
	_ = json.Unmarshal(body, &w) // a non-JSON body still yields the status and headers
	e := &APIError{
		StatusCode: status,
		Code:       w.ErrorCode,
		Message:    w.Message,
		RequestID:  h.Get("X-Amzn-Requestid"),
	}
	if e.Message == "" {
		e.Message = w.MessageUC
	}
	typ := h.Get("X-Amzn-Errortype")
	if typ == "" {
		typ = w.Type
	}
	if typ == "" {
		typ = w.Code
	}
	typ, _, _ = strings.Cut(typ, ":")
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	e.Type = strings.TrimSpace(typ)
	if e.Message == "" && e.Type == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	return e
}
