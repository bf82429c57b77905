
ended