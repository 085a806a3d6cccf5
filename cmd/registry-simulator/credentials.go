package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/simulator"
)

// loadCredentials reads the token and key files. Without either it makes
// up a token and only ever logs the path of the file holding it.
func loadCredentials(cfg *simulator.Config, o options, logger *slog.Logger) error {
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return fmt.Errorf("--token-file %s is empty", o.tokenFile)
		}
		cfg.Tokens = append(cfg.Tokens, simulator.Token{Value: token, OperatorID: o.operatorID})
	}
	if o.keysFile != "" {
		b, err := os.ReadFile(o.keysFile)
		if err != nil {
			return fmt.Errorf("--keys-file: %w", err)
		}
		keys, err := parseKeys(b, o.operatorID)
		if err != nil {
			return fmt.Errorf("--keys-file %s: %w", o.keysFile, err)
		}
		cfg.Keys = append(cfg.Keys, keys...)
	}
	if len(cfg.Tokens) > 0 || len(cfg.Keys) > 0 {
		return nil
	}
	path, token, err := generatedToken()
	if err != nil {
		return err
	}
	cfg.Tokens = append(cfg.Tokens, simulator.Token{Value: token, OperatorID: o.operatorID})
	logger.Info("no credentials given, generated a static token", "token_file", path)
	return nil
}

func generatedToken() (path, token string, err error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = hex.EncodeToString(b)
	f, err := os.CreateTemp("", "registry-simulator-token-*")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if _, err := f.WriteString(token + "\n"); err != nil {
		return "", "", err
	}
	return f.Name(), token, nil
}

// parseKeys reads access_key:secret_key lines; blank lines and # comments
// are skipped.
func parseKeys(b []byte, operatorID int) ([]simulator.KeyPair, error) {
	var keys []simulator.KeyPair
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		access, secret, ok := strings.Cut(line, ":")
		if !ok || access == "" || secret == "" {
			return nil, fmt.Errorf("line %d: want access_key:secret_key", n)
		}
		keys = append(keys, simulator.KeyPair{AccessKey: access, SecretKey: secret, OperatorID: operatorID})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

// parseLimit reads "N/window" such as "2000/1m".
func parseLimit(s string) (simulator.Limit, error) {
	n, w, ok := strings.Cut(s, "/")
	if !ok {
		return simulator.Limit{}, fmt.Errorf("limit %q: want N/window such as 2000/1m", s)
	}
	requests, err := strconv.Atoi(n)
	if err != nil || requests <= 0 {
		return simulator.Limit{}, fmt.Errorf("limit %q: request count must be a positive integer", s)
	}
	window, err := time.ParseDuration(w)
	if err != nil || window <= 0 {
		return simulator.Limit{}, fmt.Errorf("limit %q: window must be a positive duration", s)
	}
	return simulator.Limit{Requests: requests, Window: window}, nil
}
