package main

import (
	_ "github.com/c-bata/goptuna"
	_ "github.com/c-bata/goptuna/medianstopping"
	_ "github.com/c-bata/goptuna/tpe"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "golang.org/x/sys/cpu"
	_ "gonum.org/v1/plot"
	_ "gopkg.in/yaml.v3"
)

func main() {}
